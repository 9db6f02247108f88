"""A real annotator in Chromium: the demo studies from the first page to the completion code."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from annotation.models import Judgment, Study
from annotation.study_builder import build_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EXAMPLES = Path(settings.BASE_DIR) / "examples"


def _start(page, live_server, study: Study, pid: str):
    page.goto(f"{live_server.url}/a/{study.name}/?PROLIFIC_PID={pid}&STUDY_ID=demo&SESSION_ID=s1")
    if study.spec.get("content_warning"):
        assert page.locator("#content-warning").is_visible()
        page.click("#warning-continue")
    page.click("#consent-yes")
    assert page.locator("#instructions").is_visible()
    with page.expect_navigation():
        page.click("#start")


def test_rating_batch_with_sliders_and_checkbox(page, live_server):
    study = build_study(EXAMPLES / "demo_rating.yaml").study
    _start(page, live_server, study, "browser-rater")
    total = int(page.inner_text("#progress-text").split(" of ")[1])
    sliders = [d for d in study.dimensions if d["type"] == "slider"]
    checkboxes = [d for d in study.dimensions if d["type"] == "checkbox"]
    assert len(sliders) == 4 and len(checkboxes) == 1
    for position in range(1, total + 1):
        assert page.inner_text("#progress-text") == f"{position} of {total}"
        submit = page.locator("#submit")
        assert submit.is_disabled(), "sliders start with no value: Next must wait"
        for index, dim in enumerate(sliders):
            slider = page.locator(f"input[data-slider='{dim['key']}']")
            slider.scroll_into_view_if_needed()
            box = slider.bounding_box()
            # Click on the track: the thumb jumps there, as a person would move it.
            page.mouse.click(
                box["x"] + box["width"] * (0.2 + 0.15 * index), box["y"] + box["height"] / 2
            )
            if index < len(sliders) - 1:
                assert submit.is_disabled()
        page.check(f"input[name='value__{checkboxes[0]['key']}']")
        if position == 1:
            page.screenshot(
                path=str(Path(settings.VAR_DIR) / "browser-rating-item.png"), full_page=True
            )
        assert submit.is_enabled()
        with page.expect_navigation():
            submit.click()
    code = study.spec["completion"].get("code")
    assert page.locator("#completion-code").inner_text() == code
    # the last submit's own answer was the done page; its script shows the page's address
    assert page.url.endswith(f"/a/{study.name}/done/")
    judgments = list(Judgment.objects.filter(study=study).select_related("item"))
    assert len(judgments) == total
    # the demo's attention check was one of them, never the first, judged like the rest
    checks = [j for j in judgments if j.item.is_attention_check]
    assert len(checks) == 1 and checks[0].position > 0 and total == 7
    for judgment in judgments:
        assert set(judgment.values) == {d["key"] for d in study.dimensions}
        assert judgment.values[checkboxes[0]["key"]] is True
        assert all(0 <= judgment.values[d["key"]] <= 100 for d in sliders)
        assert judgment.time_on_item_ms is not None and judgment.client_submitted_at is not None
    # A reload after finishing shows the code again, and stores nothing new.
    page.reload()
    assert page.locator("#completion-code").inner_text() == code
    assert Judgment.objects.filter(study=study).count() == total


def test_pairwise_batch_with_the_keyboard(page, live_server):
    study = build_study(EXAMPLES / "demo_pairwise.yaml").study
    _start(page, live_server, study, "browser-pairs")
    total = int(page.inner_text("#progress-text").split(" of ")[1])
    choices = [d for d in study.dimensions if d["type"] == "choice"]
    keys = ["a", "t", "b"]
    for position in range(1, total + 1):
        assert page.inner_text("#progress-text") == f"{position} of {total}"
        assert page.locator("#response-a").is_visible() and page.locator("#response-b").is_visible()
        for index, _ in enumerate(choices):
            page.keyboard.press(keys[(index + position) % 3])
        if position == 1:
            page.screenshot(
                path=str(Path(settings.VAR_DIR) / "browser-pairwise-item.png"), full_page=True
            )
        with page.expect_navigation():
            page.keyboard.press("Enter")
    assert page.locator("#completion-code").is_visible()
    expected = {"a": "a", "t": "tie", "b": "b"}
    for judgment in Judgment.objects.filter(study=study).order_by("position"):
        for index, dim in enumerate(choices):
            assert (
                judgment.values[dim["key"]] == expected[keys[(index + judgment.position + 1) % 3]]
            )
    assert Judgment.objects.filter(study=study).count() == total
    # the pairwise demo has no attention checks: every item is a real comparison
    assert not Judgment.objects.filter(study=study).exclude(item__attention_check_id="").exists()
