"""The results page in Chromium, for a rating and a pairwise study: its tables, figures and
methods as a researcher preparing a paper reads them, and axe-core with no serious or
critical violation. Screenshots go to the test's folder (or $EVALSITE_SCREENSHOTS)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from annotation.models import Study
from tests.browser.test_annotator_pages import look
from tests.console.test_results_page import judged_pairwise_study, judged_rating_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def rating_study() -> Study:
    return judged_rating_study()


@pytest.fixture
def pairwise_study(tmp_path) -> Study:
    return judged_pairwise_study(tmp_path)


@pytest.fixture
def researcher_page(browser, live_server):
    """A desktop page signed in as a staff researcher (the session cookie of a test
    client's login, so the test does not depend on the login page's looks)."""
    user = get_user_model().objects.create_superuser("lead", "lead@example.org", "pw-12345")
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport=DESKTOP)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(60000)  # the first visit computes the analysis (no broker)
    yield page
    context.close()


def _open(page, live_server, study, query: str = "") -> None:
    page.goto(f"{live_server.url}/console/{study.name}/results/{query}")
    page.locator("#results-counts").wait_for()


def test_rating_results_read_well(researcher_page, live_server, rating_study, axe, shots):
    from playwright.sync_api import expect

    page = researcher_page
    _open(page, live_server, rating_study)
    for table in ("summary", "comparisons-raw", "comparisons-z", "agreement"):
        expect(page.locator(f"#{table}")).to_be_visible()
    # numbers right-aligned, every figure drawn (an SVG image that loaded)
    align = page.locator("#summary td.r").first.evaluate("c => getComputedStyle(c).textAlign")
    assert align == "right"
    images = page.locator("figure img")
    assert images.count() >= 1
    for i in range(images.count()):
        assert images.nth(i).evaluate("i => i.complete && i.naturalWidth > 0")
    look(page, axe, shots, "results-rating")

    # the options form asks again with other options (a new computation, shown when done)
    page.select_option("#id_alternative", "greater")
    page.check("#id_exclude_flagged")
    with page.expect_navigation():
        page.click("#results-options button[type=submit]")
    page.locator("#results-counts, #results-failed").first.wait_for()
    assert "alternative=greater" in page.url and "exclude_flagged=" in page.url
    expect(page.locator("#id_alternative")).to_have_value("greater")
    look(page, axe, shots, "results-rating-greater-excluded")


def test_pairwise_results_read_well(researcher_page, live_server, pairwise_study, axe, shots):
    from playwright.sync_api import expect

    page = researcher_page
    _open(page, live_server, pairwise_study)
    for table in ("summary", "winrates", "bradley-terry", "agreement"):
        expect(page.locator(f"#{table}")).to_be_visible()
    expect(page.locator("#figure-winrates img")).to_be_visible()
    look(page, axe, shots, "results-pairwise")


def test_a_bad_option_reads_as_a_problem_with_its_field(
    researcher_page, live_server, rating_study, axe, shots
):
    page = researcher_page
    response = page.goto(f"{live_server.url}/console/{rating_study.name}/results/?family=x")
    assert response.status == 400
    assert "family: " in page.inner_text("#option-errors")
    look(page, axe, shots, "results-bad-option")
