"""The study editor in Chromium: a researcher makes a draft from the rating template, types
an error and sees it at its field and line, fixes it, saves, previews the design and an
item as annotators will see it, and opens the study; annotators are told "not open yet"
before and get the study after. Every page is screenshotted (the test's folder, or
$EVALSITE_SCREENSHOTS) and checked with axe-core: no serious or critical violation."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from annotation.models import Assignment, Judgment, Participant, Study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-test-password-7"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


def look(page, axe, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    violations = axe.run(page).response["violations"]
    bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in bad
    )


def log_in(page, base: str, next_path: str) -> None:
    page.goto(f"{base}/accounts/login/?next={next_path}")
    page.fill("#id_username", "rita")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")


def test_a_researcher_edits_previews_and_opens_a_study(browser, live_server, axe, shots):
    get_user_model().objects.create_user("rita", "r@example.org", PASSWORD)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(15000)
    log_in(page, live_server.url, "/studies/new/")

    # 1. the templates; a draft from the rating one
    expect(page.locator("h1")).to_have_text("New study")
    look(page, axe, shots, "01-new-study")
    page.fill("#name-empo-rating", "browser-rating")
    page.click("#use-empo-rating")
    expect(page.locator("#study-status")).to_have_text("Draft")
    expect(page.locator("#messages")).to_contain_text("Created the draft study browser-rating")
    expect(page.locator("#design-per-system")).to_be_visible()
    look(page, axe, shots, "02-editor")

    # 2. an error typed: shown at its field and line, as you type
    area = page.locator("#spec-source")
    good = area.input_value()
    area.fill(good.replace("overlap: 2", "overlap: two"))
    state = page.locator("#check-state")
    expect(state).to_have_attribute("data-state", "invalid")
    problem = page.locator("#problem-list li")
    expect(problem).to_have_count(1)
    expect(problem).to_contain_text("design.overlap: must be an integer, got a string 'two'")
    line = int(problem.locator("button.where").get_attribute("data-line"))
    assert good.splitlines()[line - 1].strip() == "overlap: 2"
    look(page, axe, shots, "03-editor-error")
    problem.locator("button.where").click()  # the cursor goes to that line
    selected = area.evaluate("a => a.value.slice(a.selectionStart, a.selectionEnd)")
    assert selected.strip() == "overlap: two"

    # 3. saving it anyway is refused, with the problem at its field; nothing changed
    page.click("#save-spec")
    expect(page.locator("#problem-list li")).to_contain_text("design.overlap")
    study = Study.objects.get(name="browser-rating")
    assert study.spec["design"]["overlap"] == 2 and study.spec_versions.count() == 1

    # 4. fixed (another overlap): no problem, saved as version 2, the design made again
    page.locator("#spec-source").fill(good.replace("overlap: 2", "overlap: 4"))
    expect(page.locator("#check-state")).to_have_attribute("data-state", "valid")
    expect(page.locator("#check-state")).to_have_text("No problems found")
    page.click("#save-spec")
    expect(page.locator("#messages")).to_contain_text("Saved: version 2")
    expect(page.locator("#design-summary")).to_contain_text("144")
    expect(page.locator("#versions-table tr")).to_have_count(3)
    look(page, axe, shots, "04-editor-saved")

    # 5. an item as annotators see it: their page, a banner, nothing saved
    counts = (Participant.objects.count(), Assignment.objects.count(), Judgment.objects.count())
    page.goto(live_server.url + page.locator("#preview-1").get_attribute("href"))
    expect(page.locator("#preview-banner")).to_contain_text("exactly as an annotator will see it")
    expect(page.locator("fieldset.dimension")).to_have_count(5)
    expect(page.locator("#progress-text")).to_contain_text("1 of")
    look(page, axe, shots, "05-item-preview")
    for slider in page.locator("input[type=range]").all():
        slider.focus()
        page.keyboard.press("ArrowRight")
    page.locator("fieldset.dimension input[type=checkbox]").first.check()
    expect(page.locator("#submit")).to_be_enabled()
    page.click("#submit")
    expect(page.locator("#preview-sent")).to_contain_text("nothing was sent")
    assert "/preview/1/" in page.url
    page.click("#preview-next")
    expect(page.locator("#progress-text")).to_contain_text("2 of")
    assert counts == (
        Participant.objects.count(),
        Assignment.objects.count(),
        Judgment.objects.count(),
    )

    # 6. annotators: not open yet
    annotator = browser.new_context(viewport=PHONE).new_page()
    annotator.goto(f"{live_server.url}/a/browser-rating/?PROLIFIC_PID=early")
    expect(annotator.locator("h1")).to_have_text("This study is not open yet")
    look(annotator, axe, shots, "06-annotator-not-open-yet")

    # 7. opened from the editor: the study page says so, the spec is frozen
    page.click("#preview-back")
    page.click("#open-study")
    expect(page.locator("#study-status")).to_have_text("Open")
    expect(page.locator("#messages")).to_contain_text("opened")
    expect(page.locator("#status-pause")).to_be_visible()
    look(page, axe, shots, "07-study-open")
    page.click("#editor-link")
    expect(page.locator("#frozen-note")).to_be_visible()
    expect(page.locator("#save-spec")).to_have_count(0)
    look(page, axe, shots, "08-editor-frozen")

    annotator.goto(f"{live_server.url}/a/browser-rating/?PROLIFIC_PID=early")
    expect(annotator.locator("#consent-yes")).to_be_visible()
    annotator.context.close()
    context.close()


def test_the_editor_reads_on_a_phone(browser, live_server, axe, shots):
    get_user_model().objects.create_user("rita", "r@example.org", PASSWORD)
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    log_in(page, live_server.url, "/studies/new/")
    look(page, axe, shots, "phone-01-new-study")
    page.fill("#name-dexperts-ab", "phone-ab")
    page.click("#use-dexperts-ab")
    expect(page.locator("#study-status")).to_have_text("Draft")
    look(page, axe, shots, "phone-02-editor")
    page.goto(live_server.url + page.locator("#preview-1").get_attribute("href"))
    expect(page.locator("#preview-banner")).to_be_visible()
    look(page, axe, shots, "phone-03-item-preview")
    context.close()
