"""A researcher who never touches the command line, in Chromium, through the real ASGI
server (daphne: the live progress is its WebSocket): logs in, uploads a dataset, creates a
study from a template with the dataset's contexts, fixes a validation error shown in the
editor, previews an item, opens the study; an annotator completes a batch in a second
browser context from the annotator link the study page shows; the researcher sees the
judgment count change without a reload, reads the results page (tables and figures),
downloads the results bundle and closes the study; the annotator link then says closed.
Once for the EmPO-style rating template over an EmpatheticDialogues CSV, once for the
ProsocialDialog-style pairwise template over a ProsocialDialog JSON.

The account is made with the ORM, as ``create_researcher`` would. Every researcher page
is screenshotted (the test's folder, or $EVALSITE_SCREENSHOTS) and checked with axe-core
(no serious or critical violation); each step's wall time is printed."""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from annotation.models import Judgment, Study
from generation.models import Context
from tests.browser.test_annotator_pages import look
from tests.live_server import DaphneServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-walk-password-9"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
EMOTIONS = [
    "nostalgic", "anxious", "grateful", "proud", "lonely", "excited", "afraid",
    "disappointed", "joyful", "embarrassed", "hopeful", "sad",
]  # fmt: skip


@pytest.fixture
def server(tmp_path, monkeypatch) -> Iterator[DaphneServer]:
    """daphne serving the test database, its uploads in the test's folder; a researcher
    account as ``create_researcher`` makes it (not staff)."""
    monkeypatch.setenv("EVALSITE_VAR_DIR", str(tmp_path / "var"))
    get_user_model().objects.create_user("rita", "rita@lab.org", PASSWORD)
    with DaphneServer() as running:
        yield running


class Steps:
    """Each step's wall time, printed as it ends (for the report; nothing asserted)."""

    def __init__(self, walk: str):
        self.walk = walk

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        print(f"[{self.walk}] {name}: {time.perf_counter() - started:.2f} s", flush=True)


# --------------------------------------------------------------------------- data files


def write_ed_csv(path: Path) -> Path:
    """An EmpatheticDialogues CSV (the release's layout: unquoted, ``_comma_``) with one
    conversation per emotion, as many as the rating template samples (12, one per emotion)."""
    rows = ["conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags"]
    for n, emotion in enumerate(EMOTIONS):
        prompt = f"Something made me feel {emotion} this week_comma_ I keep thinking of it."
        turns = [
            f"I have to tell you how {emotion} I felt this week.",
            "Oh really? What happened?",
            f"It was about my family_comma_ and I still feel {emotion} about it.",
            f"I understand. Feeling {emotion} like that stays with you. Want to talk more?",
        ]
        for i, text in enumerate(turns, start=1):
            speaker = 1 if i % 2 else 2
            rows.append(f"hit:{n}_conv:{n},{i},{emotion},{prompt},{speaker},{text},5|5|5_4|4|4,")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def write_prosocial_json(path: Path, n: int = 8) -> Path:
    """A ProsocialDialog JSON array of ``n`` two-turn dialogues."""
    dialogues = []
    for d in range(n):
        dialogues.append(
            {
                "dialogue_id": 100 + d,
                "turns": [
                    {
                        "response_id": r,
                        "context": f"Dialogue {d}, message {r}: I want to skip my friend's party.",
                        "response": f"Maybe tell your friend how you feel first ({d}.{r}).",
                        "rots": ["It's good to be honest with friends."],
                        "safety_label": "__casual__",
                        "safety_annotations": ["casual", "casual", "casual"],
                        "safety_annotation_reasons": ["Mild.", "Mild.", "Mild."],
                        "source": "madeup",
                        "etc": f"walk-{d}",
                    }
                    for r in range(2)
                ],
            }
        )
    path.write_text(json.dumps(dialogues, indent=1), encoding="utf-8")
    return path


def write_responses(path: Path, ids: list[str], says: str) -> Path:
    lines = [json.dumps({"context_id": i, "response": f"{says} ({i})"}) for i in ids]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the walk's parts


def log_in(page, base: str) -> None:
    page.goto(f"{base}/accounts/login/?next=/datasets/upload/")
    page.fill("#id_username", "rita")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation():
        page.click("#login-form button[type=submit]")


def upload_dataset(page, axe, shots, name: str, fmt: str, path: Path, prefix: str) -> None:
    expect(page.locator("#upload-form")).to_be_visible()
    look(page, axe, shots, f"{prefix}-02-dataset-upload")
    page.fill("#id_name", name)
    page.select_option("#id_format", fmt)
    page.set_input_files("#id_file", str(path))
    with page.expect_navigation():
        page.click("#upload")
    expect(page.locator("#messages")).to_contain_text(f"contexts into {name}.")
    look(page, axe, shots, f"{prefix}-03-dataset-page")


def fix_an_error_in_the_editor(page, axe, shots, prefix: str) -> None:
    """An error typed: shown next to its field; fixed: the check is green, saved."""
    area = page.locator("#spec-source")
    good = area.input_value()
    area.fill(good.replace("overlap: 2", "overlap: two"))
    expect(page.locator("#check-state")).to_have_attribute("data-state", "invalid")
    problem = page.locator("#problem-list li")
    expect(problem).to_contain_text("design.overlap: must be an integer, got a string 'two'")
    look(page, axe, shots, f"{prefix}-06-editor-error")
    area.fill(good.replace("estimated_minutes: 5", "estimated_minutes: 6"))
    expect(page.locator("#check-state")).to_have_attribute("data-state", "valid")
    page.click("#save-spec")
    expect(page.locator("#messages")).to_contain_text("Saved: version 2")


def annotate_a_batch(page, study: Study) -> int:
    """Complete one batch as an annotator would; returns its length."""
    total = int(page.inner_text("#progress-text").split(" of ")[1])
    for position in range(1, total + 1):
        expect(page.locator("#progress-text")).to_have_text(f"{position} of {total}")
        if study.protocol == "pairwise":
            for index, _ in enumerate(study.dimensions):
                page.keyboard.press("abt"[(index + position) % 3])
        else:
            for index, slider in enumerate(page.locator("input[type=range]").all()):
                slider.focus()  # moved, then a varying distance: not one constant rating
                page.keyboard.press("ArrowRight")
                for _ in range((3 * index + position) % 5):
                    page.keyboard.press("PageDown")
            page.locator("fieldset.dimension input[type=checkbox]").first.check()
        with page.expect_navigation():
            page.click("#submit")
    expect(page.locator("#completion-code")).to_be_visible()
    return total


def walk(
    browser, server, axe, shots, tmp_path, *, prefix: str, dataset: tuple[str, str, Path],
    template: str, study_name: str, responses: list[Path], tables: tuple[str, ...],
    note: str | None,
) -> None:  # fmt: skip
    steps = Steps(prefix)
    base = server.url
    researcher_context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = researcher_context.new_page()
    page.set_default_timeout(20000)

    with steps.step("log in"):
        page.goto(f"{base}/accounts/login/?next=/datasets/upload/")
        look(page, axe, shots, f"{prefix}-01-login")
        log_in(page, base)
    with steps.step("upload the dataset"):
        upload_dataset(page, axe, shots, *dataset, prefix=prefix)

    with steps.step("create the study from the template with the dataset's contexts"):
        page.goto(f"{base}/studies/new/")
        look(page, axe, shots, f"{prefix}-04-new-study")
        page.fill(f"#name-{template}", study_name)
        page.select_option(f"#dataset-{template}", dataset[0])
        if responses:
            page.set_input_files(f"#responses-{template}", [str(p) for p in responses])
        with page.expect_navigation():
            page.click(f"#use-{template}")
        expect(page.locator("#study-status")).to_have_text("Draft")
        expect(page.locator("#messages")).to_contain_text(f"Created the draft study {study_name}")
        if note:
            expect(page.locator("#messages")).to_contain_text(note)
        look(page, axe, shots, f"{prefix}-05-editor")
    study = Study.objects.get(name=study_name)
    dataset_ids = set(
        Context.objects.filter(dataset__name=dataset[0]).values_list("external_id", flat=True)
    )
    used = set(
        study.items.filter(attention_check_id="").values_list("context__external_id", flat=True)
    )
    assert used and used <= dataset_ids  # the dataset's contexts

    with steps.step("type a validation error, see it at its field, fix it, save"):
        fix_an_error_in_the_editor(page, axe, shots, prefix)

    with steps.step("preview an item"):
        page.goto(base + page.locator("#preview-1").get_attribute("href"))
        expect(page.locator("#preview-banner")).to_contain_text("exactly as an annotator")
        look(page, axe, shots, f"{prefix}-07-item-preview")

    with steps.step("open the study"):
        page.goto(f"{base}/console/{study_name}/")
        look(page, axe, shots, f"{prefix}-08-study-draft")
        with page.expect_navigation():
            page.click("#status-open")
        expect(page.locator("#study-status")).to_have_text("Open")
        expect(page.locator("body")).to_have_attribute("data-live", "socket")
        expect(page.locator("[data-field=judgments]")).to_have_text("0")
        look(page, axe, shots, f"{prefix}-09-study-open")
        link = page.locator("p:has-text('Annotator link:') code").first.inner_text()
        assert link.endswith(f"/a/{study_name}/"), link

    annotator_context = browser.new_context(viewport=PHONE)
    annotator = annotator_context.new_page()
    annotator.set_default_timeout(20000)
    annotator_url = f"{link}?PROLIFIC_PID=walk-{prefix}&STUDY_ID=s&SESSION_ID=x"
    with steps.step("an annotator completes a batch (second browser context)"):
        annotator.goto(annotator_url)
        if annotator.locator("#warning-continue").count():
            annotator.click("#warning-continue")
        annotator.click("#consent-yes")
        with annotator.expect_navigation():
            annotator.click("#start")
        batch = annotate_a_batch(annotator, study)
    assert Judgment.objects.filter(study=study).count() == batch

    with steps.step("live progress: the count changes without a reload"):
        expect(page.locator("[data-field=judgments]")).to_have_text(str(batch), timeout=15000)
        look(page, axe, shots, f"{prefix}-10-study-progress")

    with steps.step("the results page (computed on the first visit)"):
        page.click("#results-link")
        page.locator("#results-counts").wait_for(timeout=120000)
        for table in tables:
            expect(page.locator(f"#{table}")).to_be_visible()
        images = page.locator("figure img")
        assert images.count() >= 1
        for i in range(images.count()):
            images.nth(i).scroll_into_view_if_needed()
            assert images.nth(i).evaluate("i => i.complete && i.naturalWidth > 0")
        look(page, axe, shots, f"{prefix}-11-results")

    with steps.step("download the results bundle"):
        page.goto(f"{base}/console/{study_name}/")
        with page.expect_download(timeout=120000) as download:
            page.click("#download-results")
        saved = tmp_path / f"{prefix}-results.zip"
        download.value.save_as(saved)
        names = zipfile.ZipFile(saved).namelist()
        for expected in ("report.md", "latex/summary.tex"):
            assert f"{study_name}-results/{expected}" in names, names

    with steps.step("close the study"):
        with page.expect_navigation():
            page.click("#status-close")
        expect(page.locator("#study-status")).to_have_text("Closed")
        look(page, axe, shots, f"{prefix}-12-study-closed")

    with steps.step("the annotator link shows the closed page"):
        annotator.goto(f"{link}?PROLIFIC_PID=walk-late-{prefix}")
        expect(annotator.locator("h1")).to_have_text("This study is closed")
        expect(annotator.locator("#study-closed")).to_be_visible()
    annotator_context.close()
    researcher_context.close()


def test_rating_walk_over_an_empathetic_dialogues_csv(browser, server, axe, shots, tmp_path):
    csv_path = write_ed_csv(tmp_path / "ed_walk.csv")
    # the researcher's fine-tuned model answered every conversation; no baseline outputs
    sft = write_responses(
        tmp_path / "sft.jsonl", [f"hit:{n}_conv:{n}" for n in range(len(EMOTIONS))], "I hear you"
    )
    walk(
        browser, server, axe, shots, tmp_path, prefix="rating",
        dataset=("ed-walk", "empathetic_dialogues", csv_path), template="empo-rating",
        study_name="walk-rating", responses=[sft],
        tables=("summary", "comparisons-raw", "agreement"),
        note="Left out the template's system baseline",
    )  # fmt: skip
    study = Study.objects.get(name="walk-rating")
    assert [s["name"] for s in study.spec["systems"]] == ["sft", "human"]


def test_pairwise_walk_over_a_prosocial_dialog_json(browser, server, axe, shots, tmp_path):
    json_path = write_prosocial_json(tmp_path / "prosocial_walk.json")
    ids = [str(100 + d) for d in range(8)]
    responses = [
        write_responses(tmp_path / "guided.jsonl", ids, "Have you told your friend how you feel?"),
        write_responses(tmp_path / "vanilla.jsonl", ids, "Just skip it."),
    ]
    walk(
        browser, server, axe, shots, tmp_path, prefix="pairwise",
        dataset=("prosocial-walk", "prosocial_dialog", json_path),
        template="prosocial-pairwise", study_name="walk-pairwise", responses=responses,
        tables=("summary", "winrates", "bradley-terry-empty", "agreement"), note=None,
    )  # fmt: skip


def test_a_template_whose_systems_are_all_imported_asks_for_their_responses(
    client, settings, tmp_path
):
    """With a dataset and no responses files, the pairwise template (two imported systems)
    has no system left: the page says which files to upload; nothing is created. (The
    test client, not the browser: a page's problem, not its looks.)"""
    from generation.datasets import import_dataset

    settings.VAR_DIR = tmp_path / "var"
    import_dataset("prosocial_dialog", write_prosocial_json(tmp_path / "p.json", 4), "pd")
    user = get_user_model().objects.create_user("rita", "rita@lab.org", PASSWORD)
    client.force_login(user)
    data = {"template": "prosocial-pairwise", "name": "no-responses", "dataset": "pd"}
    response = client.post("/studies/new/", data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "upload their responses files (guided.jsonl, vanilla.jsonl" in page
    assert 'value="pd" selected' in page  # the choice kept
    assert not Study.objects.exists()
