"""The annotator's pages as a crowd worker sees them, in Chromium: order, looks, axe-core.

Every page visited is screenshotted into the test's temporary folder (or into
$EVALSITE_SCREENSHOTS when set, to look at them) and checked with axe-core: no serious or
critical violation is allowed.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from PIL import Image
from playwright.sync_api import expect

from annotation.assignment import request_work
from annotation.models import Judgment, Participant, Study
from annotation.services import get_or_create_participant
from annotation.study_builder import build_study
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXAMPLES = Path(settings.BASE_DIR) / "examples"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
ACCENT = (36, 87, 197)  # the slider's thumb and fill colour (#2457c5)


def look(page, axe, shots: Path, name: str) -> None:
    """Keep a screenshot of the page and require axe-core to find nothing serious."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    violations = axe.run(page).response["violations"]
    bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in bad
    )


def visible_text(page) -> str:
    return page.inner_text("body")


def _accent_pixels(png: bytes) -> int:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)
    return int((np.abs(pixels - np.array(ACCENT)) < 30).all(axis=-1).sum())


def test_opening_pages_come_in_order_and_read_well(browser, live_server, axe, shots):
    """Pairwise demo (it has a content warning): warning → consent → instructions → items
    → done, each page accessible, on a phone and on a desktop."""
    study = build_study(EXAMPLES / "demo_pairwise.yaml").study
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/a/{study.name}/?PROLIFIC_PID=pages-1&STUDY_ID=s&SESSION_ID=x")

    # 1. the content warning comes first, with the support text once, its address a link
    assert page.locator("#content-warning").is_visible()
    assert page.locator("#consent-yes").count() == 0
    body = visible_text(page)
    assert body.count("Crisis Text Line") == 1, "the support text is shown once"
    link = page.locator("#crisis-resources a[href='https://www.crisistextline.org/']")
    assert link.count() == 1 and link.get_attribute("rel") == "noopener noreferrer"
    look(page, axe, shots, "01-warning-phone")
    page.click("#warning-continue")

    # 2. consent, with what the study is and how long it takes
    assert page.locator("#consent-text").is_visible()
    assert "8 conversations" in page.inner_text("#study-description")
    assert page.inner_text("#estimated-duration") == "Time needed: about 5 minutes."
    look(page, axe, shots, "02-consent-phone")
    page.click("#consent-yes")

    # 3. instructions: Markdown rendered, the example's conversation and drawn answers
    instructions = page.locator("#instructions")
    assert "**" not in instructions.inner_text() and "`" not in instructions.inner_text()
    assert instructions.locator("strong").first.inner_text() == "two possible replies"
    example = page.locator("#solved-example")
    assert "tell everyone at school my friend's secret" in page.inner_text("#example-dialogue")
    chosen = example.locator(".drawn-options li.chosen").all_inner_texts()
    assert chosen == ["A", "A", "A", "Tie", "A"]
    assert "True" not in example.inner_text() and "prosocial" not in example.inner_text()
    assert example.locator(".tag").all_inner_texts() == ["REPLY A", "REPLY B"]
    look(page, axe, shots, "03-instructions-phone")
    with page.expect_navigation():
        page.click("#start")

    # 4. items: single-turn contexts carry no "Response:" label inside the reply boxes
    total = int(page.inner_text("#progress-text").split(" of ")[1])
    assert page.inner_text("#response-a .speaker") == ""
    assert page.locator("fieldset.dimension legend").count() == 5
    look(page, axe, shots, "04-item-pairwise-phone")
    # the highlighted question follows the keyboard, and stays in view on a phone
    for index, key in enumerate(["a", "t", "b", "a"]):
        page.keyboard.press(key)
        current = page.locator("fieldset.dimension.current")
        assert current.get_attribute("data-key") == study.dimensions[index + 1]["key"]
        box, viewport = current.bounding_box(), page.viewport_size
        assert box["y"] >= 0 and box["y"] + min(box["height"], 120) <= viewport["height"]
    assert page.inner_text("#unanswered") == "1 question still to answer"
    page.keyboard.press("b")
    assert page.inner_text("#unanswered") == ""
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.set_viewport_size(DESKTOP)
    look(page, axe, shots, "05-item-pairwise-desktop")
    for _ in range(2, total + 1):
        for key in ["a", "b", "t", "a", "b"]:
            page.keyboard.press(key)
        with page.expect_navigation():
            page.keyboard.press("Enter")

    # 5. done: the code, with a copy button
    assert page.inner_text("#completion-code") == "DEMO-PROSOCIAL"
    page.click("#copy-code")
    # (locator assertions, not wait_for_function: the pages' CSP forbids evaluating strings)
    expect(page.locator("#copy-status")).not_to_have_text("")
    look(page, axe, shots, "06-done-desktop")
    assert Judgment.objects.filter(study=study).count() == total
    context.close()


def test_a_fresh_slider_looks_untouched_and_back_never_carries_answers(
    browser, live_server, axe, shots
):
    study = build_study(EXAMPLES / "demo_rating.yaml").study
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(f"{live_server.url}/a/{study.name}/?PROLIFIC_PID=slider-1&STUDY_ID=s&SESSION_ID=x")
    page.click("#consent-yes")
    instructions = page.locator("#instructions")
    assert "**" not in instructions.inner_text() and "*Reply*" not in instructions.inner_text()
    assert (
        instructions.locator("strong").count() >= 2 and instructions.locator("ol li").count() == 5
    )
    # the solved example shows its conversation and a slider drawn at 80, Yes for the box
    assert "I planted tomatoes" in page.inner_text("#example-dialogue")
    drawn = page.locator("#example-answers .drawn-slider").first
    assert drawn.get_attribute("aria-label") == "Slider set at 80 of 100"
    assert page.locator("#example-answers .drawn-check").inner_text().endswith("Yes (ticked)")
    assert "emotion_understanding" not in page.inner_text("#solved-example")
    look(page, axe, shots, "11-instructions-rating-desktop")
    with page.expect_navigation():
        page.click("#start")

    sliders = [d for d in study.dimensions if d["type"] == "slider"]
    first = page.locator(f"input[data-slider='{sliders[0]['key']}']")
    assert first.evaluate("el => getComputedStyle(el).appearance") == "none"
    assert _accent_pixels(first.screenshot()) == 0, "a fresh slider paints no fill and no thumb"
    assert page.inner_text("#unanswered") == "4 questions still to answer"
    look(page, axe, shots, "12-item-rating-desktop")
    first.focus()
    page.keyboard.press("ArrowRight")
    assert _accent_pixels(first.screenshot()) > 50, "a touched slider shows its thumb and fill"
    assert page.inner_text("#unanswered") == "3 questions still to answer"
    for dim in sliders[1:]:
        slider = page.locator(f"input[data-slider='{dim['key']}']")
        slider.scroll_into_view_if_needed()
        box = slider.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2)
    page.check("input[type=checkbox]")
    with page.expect_navigation():
        page.click("#submit")
    assert page.inner_text("#progress-text").startswith("2 of ")

    # Back: the browser goes to the same address, the server gives the current item, and
    # nothing of the item just submitted is filled in.
    page.go_back()
    page.wait_for_load_state("load")
    assert page.inner_text("#progress-text").startswith("2 of ")
    values = page.eval_on_selector_all(
        "input[name^='value__'][type=hidden]", "els => els.map(e => e.value)"
    )
    assert values == ["", "", "", ""]
    assert page.locator("input[type=range].untouched").count() == 4
    assert not page.is_checked("input[type=checkbox]")
    assert page.locator("#submit").is_disabled()
    page.go_forward()
    page.wait_for_load_state("load")
    assert page.locator("input[type=range].untouched").count() == 4
    assert Judgment.objects.filter(study=study).count() == 1
    page.set_viewport_size(PHONE)
    look(page, axe, shots, "13-item-rating-phone")
    context.close()


def test_no_work_is_said_before_consent(page, live_server, axe, shots):
    study = make_study(
        n_batches=1, slots=1, completion={"code": "DONE", "no_work_code": "NOWORK-9"}
    )
    first = get_or_create_participant(study, "first", "prolific")
    assert request_work(first).assignment is not None  # the only slot is taken
    page.goto(f"{live_server.url}/a/{study.name}/?PROLIFIC_PID=second&STUDY_ID=s&SESSION_ID=x")
    assert page.locator("#no-work").is_visible()
    assert page.locator("#consent-text").count() == 0
    assert page.inner_text("#no-work-code") == "NOWORK-9"
    assert "return the study on Prolific" in page.inner_text("#return-advice")
    look(page, axe, shots, "21-no-work-phone")
    # nothing was asked of or recorded for the second participant
    assert not Participant.objects.filter(study=study, external_id="second").exists()


def test_closed_study_error_and_invalid_link_pages_look_like_the_site(
    page, live_server, axe, shots
):
    study = make_study(n_batches=1, slots=1)
    Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    page.goto(f"{live_server.url}/a/{study.name}/")
    assert page.locator("#study-closed").is_visible()
    look(page, axe, shots, "31-closed-phone")

    page.goto(f"{live_server.url}/a/{study.name}/?invite=forged")
    look(page, axe, shots, "32-invalid-link-phone")

    Study.objects.filter(pk=study.pk).update(status=Study.Status.PAUSED)
    page.goto(f"{live_server.url}/a/{study.name}/")
    assert page.locator("#study-paused").is_visible()
    look(page, axe, shots, "34-paused-phone")
    Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)
    page.goto(f"{live_server.url}/a/{study.name}/")
    page.click("#consent-no")
    assert page.locator("#declined").is_visible()
    look(page, axe, shots, "35-declined-phone")

    response = page.goto(f"{live_server.url}/a/no-such-study/")
    assert response.status == 404
    assert page.locator("#error-page").is_visible() and "Page not found" in page.inner_text("h1")
    assert page.locator("link[rel=icon]").count() == 1
    assert "Not Found" not in visible_text(page)
    look(page, axe, shots, "33-not-found-phone")
    icon = page.request.get(f"{live_server.url}/favicon.ico")
    assert icon.ok and icon.headers["content-type"] == "image/svg+xml"


def test_the_done_page_counts_down_to_the_redirect(page, live_server, axe, shots):
    target = "/a/no-such-study/"  # any page of this server: where the platform would be
    study = make_study(
        n_batches=1,
        slots=1,
        completion={"code": "CODE-7", "redirect_url": f"{live_server.url}{target}"},
    )
    page.goto(f"{live_server.url}/a/{study.name}/")
    page.click("#consent-yes")
    with page.expect_navigation():
        page.click("#start")
    for _ in range(3):
        slider = page.locator("input[type=range]")
        slider.focus()
        page.keyboard.press("Home")
        with page.expect_navigation():
            page.click("#submit")
    assert page.inner_text("#completion-code") == "CODE-7"
    link = page.locator("#completion-link")
    assert link.get_attribute("href").endswith(target)
    start = int(page.inner_text("#countdown"))
    expect(page.locator("#countdown")).not_to_have_text(str(start))
    assert int(page.inner_text("#countdown")) < start
    look(page, axe, shots, "41-done-redirect-phone")
    page.wait_for_url(re.compile(re.escape(target)), timeout=20000)
