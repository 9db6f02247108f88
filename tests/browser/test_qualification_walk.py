"""The qualification step and the safety controls in Chromium: gold items with feedback,
a failed qualification leaving with the screened-out code, a passed one going on to real
items, where a distressing item can be skipped. Screenshots in $EVALSITE_SCREENSHOTS."""

from __future__ import annotations

import pytest

from annotation.models import Assignment, ItemSkip, Study
from tests.annotation.test_qualification import GOLD
from tests.browser.test_annotator_pages import look
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _study() -> Study:
    study = make_study(
        n_batches=2,
        slots=1,
        completion={"code": "DONE-123", "codes": {"screened_out": {"code": "SCREENED-9"}}},
    )
    spec = dict(study.spec)
    spec["quality_control"] = {
        "gold": {"items": GOLD, "placement": "qualification", "pass_threshold": 1.0},
    }
    spec["annotator_safety"] = {"skip_distressing": True}
    Study.objects.filter(pk=study.pk).update(spec=spec)
    study.refresh_from_db()
    return study


def _start(page, live_server, study: Study, pid: str) -> None:
    page.goto(f"{live_server.url}/a/{study.name}/?PROLIFIC_PID={pid}&STUDY_ID=s&SESSION_ID=x")
    page.click("#consent-yes")
    with page.expect_navigation():
        page.click("#start")


def _slide(page, share: float) -> None:
    slider = page.locator("input[data-slider='empathy']")
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * share, box["y"] + box["height"] / 2)
    with page.expect_navigation():
        page.click("#submit")


def test_a_failed_qualification_gets_feedback_and_leaves_screened_out(
    page, live_server, axe, shots
):
    study = _study()
    _start(page, live_server, study, "failing")
    assert "short qualification" in page.inner_text("#notice")
    assert page.inner_text("#progress-text") == "1 of 2"
    assert page.locator("#skip").count() == 0  # no safety controls on gold items
    look(page, axe, shots, "qualification-item")
    _slide(page, 0.85)  # g1 expects at least 60: right
    assert page.inner_text("#feedback-title") == "Correct"
    look(page, axe, shots, "qualification-feedback-correct")
    with page.expect_navigation():
        page.click("#continue")
    _slide(page, 0.85)  # g2 expects at most 30: wrong
    assert page.inner_text("#feedback-title") == "Not the expected answer"
    assert "empathy: at most 30" in page.inner_text("#expected")
    assert page.inner_text("#given").startswith("empathy: 8")
    look(page, axe, shots, "qualification-feedback-wrong")
    with page.expect_navigation():
        page.click("#continue")
    assert page.locator("#screened-out").is_visible()
    assert page.inner_text("#completion-code") == "SCREENED-9"
    look(page, axe, shots, "qualification-screened-out")
    assert not Assignment.objects.exists()


def test_a_passed_qualification_goes_on_to_items_that_can_be_skipped(page, live_server, axe, shots):
    study = _study()
    _start(page, live_server, study, "passing")
    _slide(page, 0.85)
    with page.expect_navigation():
        page.click("#continue")
    _slide(page, 0.1)
    assert page.inner_text("#feedback-title") == "Correct"
    with page.expect_navigation():
        page.click("#continue")
    assert page.inner_text("#progress-text") == "1 of 3"
    look(page, axe, shots, "item-with-safety-controls")
    with page.expect_navigation():
        page.click("#skip")
    assert page.inner_text("#progress-text") == "2 of 3"
    assert ItemSkip.objects.count() == 1
    with page.expect_navigation():
        page.click("#pause")
    assert page.locator("#paused").is_visible()
    look(page, axe, shots, "paused")
    with page.expect_navigation():
        page.click("#resume")
    assert page.inner_text("#progress-text") == "2 of 3"
