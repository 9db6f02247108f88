"""The power page in Chromium as a researcher planning a study reads it: the form, the
table, the contexts needed and the curve, on a desktop and a phone; axe-core with no
serious or critical violation. Screenshots go to the test's folder."""

from __future__ import annotations

import pytest

from tests.browser.test_results_page import DESKTOP, researcher_page  # noqa: F401 - fixture
from tests.console.test_power_page import ENTERED
from tests.console.test_results_page import judged_rating_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [DESKTOP["width"], 390])
def test_the_power_page_reads_well(researcher_page, live_server, axe, shots, width):  # noqa: F811
    study = judged_rating_study()
    page = researcher_page
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/console/{study.name}/power/")
    page.locator("#power-form").wait_for()
    page.screenshot(path=str(shots / f"power-form-{width}.png"), full_page=True)
    page.goto(f"{live_server.url}/console/{study.name}/power/{ENTERED}")
    page.locator("#power-table").wait_for()
    page.locator("#power-curve img").wait_for()
    page.screenshot(path=str(shots / f"power-plan-{width}.png"), full_page=True)
    # the curve is drawn (an image that loaded, not a broken one) and fits the page
    drawn = page.locator("#power-curve img").evaluate(
        "img => img.complete && img.naturalWidth > 0 && img.getBoundingClientRect().right"
    )
    assert drawn and drawn <= width
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"
    results = axe.run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, [(v["id"], v["help"]) for v in serious]
