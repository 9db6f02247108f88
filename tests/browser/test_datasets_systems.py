"""The datasets and systems pages in Chromium, as a researcher uses them: upload an
EmpatheticDialogues CSV, see the located problems of a broken one (nothing imported),
browse the contexts a page at a time, and see a system's problems next to its fields;
axe-core finds no serious or critical violation. Screenshots go to the test's folder (or
$EVALSITE_SCREENSHOTS)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

from generation.models import Context, Dataset, System
from tests.browser.test_annotator_pages import look

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BASE = Path(settings.BASE_DIR)
ED_EXAMPLE = BASE / "examples" / "datasets" / "empathetic_dialogues.csv"
ED_BAD = BASE / "tests" / "generation" / "fixtures" / "ed_bad.csv"
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def researcher_page(browser, live_server, settings, tmp_path):
    """A desktop page signed in as a researcher who is not staff (datasets and systems are
    the lab's: any researcher may use them)."""
    settings.VAR_DIR = tmp_path / "var"
    user = get_user_model().objects.create_user("rita", "rita@example.org", "pw-12345-long")
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
    page.set_default_timeout(20000)
    yield page
    context.close()


def _upload(page, live_server, path: Path, name: str) -> None:
    page.goto(f"{live_server.url}/datasets/upload/")
    page.fill("#id_name", name)
    page.select_option("#id_format", "empathetic_dialogues")
    page.set_input_files("#id_file", str(path))
    with page.expect_navigation():
        page.click("#upload")


def test_upload_see_the_problems_of_a_broken_file_and_browse_the_contexts(
    researcher_page, live_server, axe, shots
):
    from playwright.sync_api import expect

    page = researcher_page
    page.goto(f"{live_server.url}/datasets/")
    expect(page.locator("#datasets")).to_contain_text("No datasets yet")
    look(page, axe, shots, "datasets-01-empty-list")
    page.click("#upload-link")
    expect(page.locator("#upload-form")).to_be_visible()
    look(page, axe, shots, "datasets-02-upload-form")

    # a broken file: every problem with its line, nothing imported, the form kept
    _upload(page, live_server, ED_BAD, "broken")
    problems = page.locator("#file-problems li")
    expect(problems).to_have_count(5)
    assert problems.first.inner_text().startswith("ed_bad.csv: line 4: expected 8 fields")
    assert page.input_value("#id_name") == "broken"
    assert Dataset.objects.count() == 0
    look(page, axe, shots, "datasets-03-upload-problems")

    # the example file: imported, its page shows the counts and the contexts
    _upload(page, live_server, ED_EXAMPLE, "ed-example")
    dataset = Dataset.objects.get(name="ed-example")
    n = Context.objects.filter(dataset=dataset).count()
    expect(page.locator("#messages")).to_contain_text(f"Imported {n} contexts into ed-example.")
    expect(page.locator("[data-count=contexts]")).to_have_text(str(n))
    first = page.locator("#contexts article.context").first
    expect(first.locator(".turn").first).to_contain_text(
        "I spent the afternoon in the attic and found my grandma's old letters."
    )
    assert "_comma_" not in page.inner_text("#contexts")
    look(page, axe, shots, "datasets-04-dataset-page")
    page.goto(f"{live_server.url}/datasets/")
    expect(page.locator("tr[data-dataset=ed-example]")).to_contain_text(str(n))
    look(page, axe, shots, "datasets-05-list")


def test_a_long_dataset_is_browsed_a_page_at_a_time(researcher_page, live_server, axe, shots):
    from playwright.sync_api import expect

    dataset = Dataset.objects.create(name="long", format="jsonl")
    Context.objects.bulk_create(
        [
            Context(
                dataset=dataset,
                external_id=f"row-{i:02d}",
                turns=[
                    {"speaker": "A", "text": f"<b>not bold</b> turn {i}"},
                    {"speaker": "B", "text": "مرحبا، كيف حالك؟"},
                ],
                reference_response=f"reference {i}",
            )
            for i in range(25)
        ]
    )
    page = researcher_page
    page.goto(f"{live_server.url}/datasets/{dataset.pk}/")
    expect(page.locator("#contexts article.context")).to_have_count(20)
    expect(page.locator("#contexts b")).to_have_count(0)
    expect(page.locator("#contexts").get_by_text("<b>not bold</b> turn 0")).to_be_visible()
    look(page, axe, shots, "datasets-06-contexts-page-1")
    page.click("#next-page")
    expect(page.locator("#contexts article.context")).to_have_count(5)
    expect(page.locator("#pages")).to_contain_text("Page 2 of 2")
    look(page, axe, shots, "datasets-07-contexts-page-2")


def test_a_system_with_problems_shows_them_next_to_its_fields(
    researcher_page, live_server, axe, shots, tmp_path
):
    from playwright.sync_api import expect

    page = researcher_page
    page.goto(f"{live_server.url}/systems/register/")
    look(page, axe, shots, "systems-01-register-form")
    page.fill("#id_name", "zephyr-sft")
    page.select_option("#id_kind", "hf_causal")
    page.fill("#id_path", str(tmp_path / "no-such-model"))
    page.fill("#id_options", "top_p: 7\nbogus: 1\n")
    with page.expect_navigation():
        page.click("#register")
    expect(page.locator("#id_path_error")).to_contain_text("does not exist")
    expect(page.locator("#id_options_error")).to_contain_text("bogus: unknown option")
    assert System.objects.count() == 0
    look(page, axe, shots, "systems-02-register-problems")
    page.select_option("#id_kind", "reference")
    page.fill("#id_path", "")
    page.fill("#id_options", "")
    page.fill("#id_name", "human")
    with page.expect_navigation():
        page.click("#register")
    expect(page.locator("#system-kind")).to_have_text("reference")
    expect(page.locator("#messages")).to_contain_text("Registered system human (reference).")
    look(page, axe, shots, "systems-03-system-page")
    page.goto(f"{live_server.url}/systems/")
    expect(page.locator("tr[data-system=human]")).to_be_visible()
    look(page, axe, shots, "systems-04-list")


def test_a_job_page_follows_the_job_without_its_websocket_and_cancels_it(
    researcher_page, live_server, axe, shots
):
    """The test server has no WebSocket: the page polls progress.json instead, follows the
    candidates stored meanwhile, and a cancelled job offers to resume."""
    from playwright.sync_api import expect

    from generation.models import Candidate, GenerationJob

    dataset = Dataset.objects.create(name="watched", format="jsonl")
    contexts = Context.objects.bulk_create(
        [
            Context(dataset=dataset, external_id=f"w{i}", turns=[{"speaker": "A", "text": "Hi."}])
            for i in range(4)
        ]
    )
    system = System.objects.create(name="watched-model", kind="hf_causal", config={})
    job = GenerationJob.objects.create(
        system=system, dataset=dataset, status=GenerationJob.Status.RUNNING
    )
    job.contexts.set(contexts)
    page = researcher_page
    page.goto(f"{live_server.url}/systems/{system.pk}/")
    expect(page.locator("#launch-form")).to_be_visible()
    look(page, axe, shots, "jobs-00-system-with-launch-form")
    page.goto(f"{live_server.url}/generation/{job.pk}/")
    expect(page.locator("#live")).to_have_text("Updated every few seconds.")
    expect(page.locator("[data-field=total]")).to_have_text("4")
    Candidate.objects.create(
        system=system, context=contexts[0], text="Hello.", source_key="t:0", generation_job=job
    )
    expect(page.locator("[data-field=done]")).to_have_text("1", timeout=15000)
    look(page, axe, shots, "jobs-01-running")
    with page.expect_navigation():
        page.click("#cancel")
    expect(page.locator("[data-field=status]")).to_have_text("cancelled")
    expect(page.locator("#resume")).to_be_visible()
    expect(page.locator("#cancel")).to_have_count(0)
    look(page, axe, shots, "jobs-02-cancelled")
    page.goto(f"{live_server.url}/console/generation/")
    expect(page.locator(f"tr[data-job='{job.pk}'] [data-field=status]")).to_have_text("cancelled")
    look(page, axe, shots, "jobs-03-list")
