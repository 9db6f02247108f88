"""The results page: the full analysis computed by a task (eager here: no broker), cached
per study × options × judgment count, shown as tables, figures and methods; the streamed
downloads; who may see them."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from django.conf import settings
from django.utils.html import escape

from analysis import results_cache
from analysis.models import StudyResults
from annotation.assignment import request_work
from annotation.models import Study
from annotation.services import get_or_create_participant, next_entry, record_judgment
from annotation.study_builder import build_study
from tests.annotation.test_admin_and_console import _console_table

pytestmark = pytest.mark.django_db

EXAMPLES = Path(settings.BASE_DIR) / "examples"
CHOICES = ("a", "b", "tie", "a")


def _judge(
    study: Study, participants: int, *, first: int = 0, limit: int | None = None, ms: int = 4000
) -> None:
    """`participants` annotators each complete a batch (or `limit` items of one)."""
    for i in range(first, first + participants):
        p = get_or_create_participant(study, f"P{i}", "prolific")
        assignment = request_work(p).assignment
        done = 0
        while (entry := next_entry(assignment)) is not None and (limit is None or done < limit):
            values = {}
            for d in study.dimensions:
                if d["type"] == "slider":
                    values[d["key"]] = (17 * i + 7 * entry.position + 3 * done) % 101
                elif d["type"] == "checkbox":
                    values[d["key"]] = (i + entry.position) % 3 != 0
                else:
                    values[d["key"]] = CHOICES[(i + entry.position + len(d["key"])) % 4]
            record_judgment(
                p,
                entry_id=entry.id,
                values=values,
                rationales={},
                idempotency_key=f"{i}-{entry.id}",
                time_on_item_ms=ms + 100 * i,
            )
            assignment.refresh_from_db()
            done += 1


def judged_rating_study() -> Study:
    """The rating demo, three batches judged."""
    study = build_study(EXAMPLES / "demo_rating.yaml").study
    _judge(study, 3)
    return study


def judged_pairwise_study(tmp_path: Path) -> Study:
    """The pairwise demo with a third system (the contexts' reference replies), so that
    Bradley–Terry strengths are estimated."""
    shutil.copytree(EXAMPLES / "data", tmp_path / "data")
    spec = (EXAMPLES / "demo_pairwise.yaml").read_text(encoding="utf-8")
    spec = spec.replace(
        "    responses: data/prosocial_vanilla.jsonl\n",
        "    responses: data/prosocial_vanilla.jsonl\n"
        "  - name: human\n    kind: reference\n    label: Reference reply\n",
    )
    assert "kind: reference" in spec
    (tmp_path / "pairwise3.yaml").write_text(spec, encoding="utf-8")
    study = build_study(tmp_path / "pairwise3.yaml").study
    _judge(study, 6)
    return study


@pytest.fixture
def rating_study() -> Study:
    return judged_rating_study()


@pytest.fixture
def pairwise_study(tmp_path) -> Study:
    return judged_pairwise_study(tmp_path)


@pytest.fixture
def computed(monkeypatch) -> list[int]:
    """The ids of the results rows the task computed, in order."""
    calls: list[int] = []
    real = results_cache.compute

    def counted(row_id: int) -> str:
        calls.append(row_id)
        return real(row_id)

    monkeypatch.setattr(results_cache, "compute", counted)
    return calls


def _page(client, study: Study, query: str = "") -> str:
    response = client.get(f"/console/{study.name}/results/{query}")
    assert response.status_code == 200, response.content.decode()[:2000]
    return response.content.decode()


def _column(rows: list[list[str]], header: str) -> list[str]:
    return [r[rows[0].index(header)] for r in rows[1:]]


def test_rating_results_show_every_table_figure_and_the_methods(admin_client, rating_study):
    from analysis.api import analyze_study

    page = _page(admin_client, rating_study)
    expected = analyze_study(rating_study, None).result  # what `manage.py analyze` computes

    # per system × dimension: n, mean, 95% CI, the dimensions by their labels
    rows, _ = _console_table(page, "summary")
    assert rows[0][:7] == ["Dimension", "System", "Items", "Judgments", "Mean", "SD", "95% CI"]
    first = expected.summary.iloc[0]
    label = {d["key"]: d["label"] for d in rating_study.dimensions}[first["dimension"]]
    row = next(r for r in rows[1:] if r[0] == label and r[1] == first["system"])
    assert row[4] == f"{first['mean']:.2f}"
    assert row[6] == f"[{first['ci_low']:.2f}, {first['ci_high']:.2f}]"
    assert len(rows) - 1 == len(expected.summary)

    # comparisons, raw and z-scored apart, with test, p, corrected p, d_z and pooled d
    for variant in ("raw", "z"):
        rows, notes = _console_table(page, f"comparisons-{variant}")
        header = rows[0]
        for column in ("Design", "t", "p", "p (Holm)", "p (Bonf.)", "d (pooled)", "d_z"):
            assert column in header, (variant, header)
        assert "Variant" not in header
        subset = expected.comparisons[expected.comparisons["variant"] == variant]
        assert len(rows) - 1 == len(subset)
        assert set(_column(rows, "Design")) <= {"paired", "Welch"}
        assert all(cell.removeprefix("–^") in notes for r in rows for cell in r if "–" in cell)
    assert "(ratings z-scored within each annotator)" in page

    # agreement: every missing value with its reason
    rows, notes = _console_table(page, "agreement")
    dashes = [cell for r in rows[1:] for cell in r if cell.startswith("–")]
    assert dashes and all(cell.startswith("–^") and cell[2:] in notes for cell in dashes)
    assert all(text.strip(". ") for text in notes.values())

    # the diagnostics, the figures inline as SVG, the methods text
    for table_id in ("length-bias", "position-effects", "annotator-quality", "exclusion-effect"):
        assert f'id="{table_id}' in page, table_id
    figures = re.findall(
        r'<img src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"', page
    )
    assert figures and all(alt for _, alt in figures)
    assert base64.b64decode(figures[0][0]).lstrip().startswith((b"<?xml", b"<svg"))
    assert "<script" not in base64.b64decode(figures[0][0]).decode()
    for sentence in expected.methods[:3]:
        assert escape(sentence) in page
    # whole words: "nan" is in "Brennan & Prediger", the free-marginal kappa's authors
    assert not re.search(r"\b(True|False|nan)\b", page)


def test_pairwise_results_show_win_tie_loss_and_bradley_terry(admin_client, pairwise_study):
    page = _page(admin_client, pairwise_study)
    rows, notes = _console_table(page, "winrates")
    header = rows[0]
    for column in ("A wins (%)", "Tie (%)", "B wins (%)", "p (sign)", "p (Holm)"):
        assert column in header
    assert len(rows) - 1 == 3 * 5  # three pairs × five dimensions
    assert all(re.fullmatch(r"\d+\.\d", cell) for cell in _column(rows, "Tie (%)"))

    rows, _ = _console_table(page, "bradley-terry")
    assert rows[0][:4] == ["Dimension", "System", "Strength", "95% CI"]
    assert {r[1] for r in rows[1:]} == {"guided", "vanilla", "human"}
    assert all(re.fullmatch(r"\[\d+\.\d\d, \d+\.\d\d\]", r[3]) for r in rows[1:])
    rows, _ = _console_table(page, "summary")
    assert rows[0][4] == "Expected score"
    assert 'id="comparisons-raw"' not in page  # a rating table
    assert 'id="figure-winrates"' in page and 'id="figure-bradley-terry"' in page


def test_a_second_visit_reads_the_cache_and_a_new_judgment_recomputes(
    admin_client, rating_study, computed
):
    _page(admin_client, rating_study)
    _page(admin_client, rating_study)
    admin_client.get(f"/console/{rating_study.name}/results.zip")
    assert len(computed) == 1
    first = StudyResults.objects.get()
    assert first.status == StudyResults.Status.READY and first.seconds > 0
    assert first.judgment_count == rating_study.judgments.count()

    _judge(rating_study, 1, first=10, limit=1)
    page = _page(admin_client, rating_study)
    assert len(computed) == 2
    latest = StudyResults.objects.get()  # the older count's row is gone once this is ready
    assert latest.judgment_count == first.judgment_count + 1
    analysed = latest.data["analysis"]["info"]["n_judgments_analysed"]
    assert f"Analysed: {analysed} judgments by" in page

    # other options are another computation, cached apart
    _page(admin_client, rating_study, "?alternative=greater&family=all")
    _page(admin_client, rating_study, "?family=all&alternative=greater")
    assert len(computed) == 3
    assert StudyResults.objects.count() == 2


def test_exclude_flagged_is_an_option_of_its_own(admin_client, rating_study, computed):
    page = _page(admin_client, rating_study, "?exclude_flagged=1")
    row = StudyResults.objects.get()
    assert row.options == {
        "alternative": "two-sided",
        "family": "per_dimension",
        "exclude_flagged": True,
    }
    box = re.search(r'<input[^>]*name="exclude_flagged"[^>]*>', page).group(0)
    assert "checked" in box
    assert f'href="/console/{rating_study.name}/results.zip?exclude_flagged=1"' in page


def test_zscore_and_two_sided_rule_are_options(admin_client, rating_study, computed):
    page = _page(admin_client, rating_study, "?zscore=wmt&permutation_two_sided=doubled")
    row = StudyResults.objects.get()
    assert row.options["zscore"] == "wmt" and row.options["permutation_two_sided"] == "doubled"
    assert "zscore=wmt" in page and "permutation_two_sided=doubled" in page


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?zscore=sample", "zscore"),
        ("?alternative=sideways", "alternative"),
        ("?family=everything", "family"),
        ("?exclude_flagged=maybe", "exclude_flagged"),
    ],
)
def test_bad_options_are_a_400_naming_the_field_and_compute_nothing(
    admin_client, rating_study, computed, query, field
):
    response = admin_client.get(f"/console/{rating_study.name}/results/{query}")
    assert response.status_code == 400
    page = response.content.decode()
    errors = page.split('id="option-errors"')[1].split("</div>")[0]
    assert f"{field}: " in errors
    assert computed == [] and not StudyResults.objects.exists()
    zipped = admin_client.get(f"/console/{rating_study.name}/results.zip{query}")
    assert zipped.status_code == 400 and f"{field}: " in zipped.content.decode()
    status = admin_client.get(f"/console/{rating_study.name}/results/status.json{query}")
    assert status.status_code == 400 and field in status.json()["errors"][0]


def test_a_study_that_cannot_be_analysed_says_why(admin_client, computed):
    study = build_study(EXAMPLES / "demo_rating.yaml").study
    page = _page(admin_client, study)
    assert 'id="results-note"' in page and computed == []  # no judgments: nothing to run
    _judge(study, 1, limit=2, ms=500)  # one annotator, too fast: flagged
    page = _page(admin_client, study, "?exclude_flagged=1")
    assert len(computed) == 1
    failed = page.split('id="results-failed"')[1].split("</p>")[0]
    assert "flagged" in failed and 'id="summary"' not in page
    assert StudyResults.objects.get().status == StudyResults.Status.FAILED
    zipped = admin_client.get(f"/console/{study.name}/results.zip?exclude_flagged=1")
    assert zipped.status_code == 409 and "flagged" in zipped.content.decode()
    _page(admin_client, study, "?exclude_flagged=1")
    assert len(computed) == 1  # a failure is kept too, until the next judgment


def test_with_a_broker_the_task_is_sent_on_commit_and_the_page_waits(
    admin_client, rating_study, monkeypatch, django_capture_on_commit_callbacks
):
    from analysis import tasks

    sent = []
    monkeypatch.setattr(tasks, "is_eager", lambda: False)
    monkeypatch.setattr(tasks.compute_study_results, "apply_async", lambda args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        page = _page(admin_client, rating_study)
    row = StudyResults.objects.get()
    assert len(callbacks) == 1 and sent == [(row.pk,)]
    assert row.status == StudyResults.Status.PENDING
    assert 'id="results-computing"' in page and "reloads by itself" in page
    assert re.search(r'<script nonce="[^"]+">', page) and "status.json" in page
    assert 'id="summary"' not in page and "No worker has started it" not in page
    StudyResults.objects.update(requested_at=row.requested_at - dt.timedelta(minutes=5))
    page = _page(admin_client, rating_study)  # still pending: say what should run it
    assert "No worker has started it yet" in page and "-Q celery" in page
    status = admin_client.get(f"/console/{rating_study.name}/results/status.json").json()
    assert status == {"status": "pending"}
    # the bundle is not ready: the download sends the browser to the page that says so
    zipped = admin_client.get(f"/console/{rating_study.name}/results.zip")
    assert zipped.status_code == 302 and zipped["Location"].endswith("/results/")
    assert len(sent) == 1  # asked twice, sent once

    tasks.compute_study_results.apply(args=(row.pk,))  # what the worker does
    assert admin_client.get(f"/console/{rating_study.name}/results/status.json").json() == {
        "status": "ready"
    }
    page = _page(admin_client, rating_study)
    assert 'id="summary"' in page and 'id="results-computing"' not in page


def test_downloads_stream_the_export_and_serve_the_cached_bundle(
    admin_client, rating_study, monkeypatch, computed
):
    from console import views

    monkeypatch.setattr(views, "ROWS_PER_CHUNK", 7)  # many chunks, one header
    response = admin_client.get(f"/console/{rating_study.name}/judgments.csv")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    chunks = list(response.streaming_content)
    assert len(chunks) > 3
    text = b"".join(chunks).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    expected = rating_study.judgments.count() * len(rating_study.dimensions)
    assert len(rows) == expected and text.count("judgment_id,") == 1
    assert len({r["judgment_id"] for r in rows}) == rating_study.judgments.count()

    response = admin_client.get(f"/console/{rating_study.name}/judgments.jsonl")
    assert response.streaming and "attachment" in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == expected and json.loads(lines[0])["study"] == rating_study.name

    response = admin_client.get(f"/console/{rating_study.name}/results.zip")
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert f"{rating_study.name}-results/report.md" in names
    assert f"{rating_study.name}-results/latex/summary.tex" in names
    _page(admin_client, rating_study)
    assert len(computed) == 1  # the page read what the download computed


def test_formula_cells_are_escaped_unless_asked_not_to(admin_client, rating_study):
    rating_study.judgments.filter(pk=rating_study.judgments.first().pk).update(
        rationales={"emotion_understanding": "=HYPERLINK(1)"}
    )

    def rationale(query: str) -> set[str]:
        response = admin_client.get(f"/console/{rating_study.name}/judgments.csv{query}")
        text = b"".join(response.streaming_content).decode()
        return {r["rationale"] for r in csv.DictReader(io.StringIO(text))}

    assert "'=HYPERLINK(1)" in rationale("") and "=HYPERLINK(1)" not in rationale("")
    assert "=HYPERLINK(1)" in rationale("?formula_escape=0")


def test_the_export_streams_through_asgi_one_chunk_at_a_time(admin_user, rating_study, monkeypatch):
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    from console import views

    monkeypatch.setattr(views, "ROWS_PER_CHUNK", 10)
    client = AsyncClient()
    client.force_login(admin_user)

    async def download() -> tuple[bool, list[bytes]]:
        response = await client.get(f"/console/{rating_study.name}/judgments.csv")
        return response.is_async, [chunk async for chunk in response.streaming_content]

    is_async, chunks = async_to_sync(download)()
    assert is_async and len(chunks) > 3
    rows = list(csv.DictReader(io.StringIO(b"".join(chunks).decode())))
    assert len(rows) == rating_study.judgments.count() * len(rating_study.dimensions)


def test_results_are_for_members_only(client, django_user_model, rating_study, computed):
    urls = [
        f"/console/{rating_study.name}/results/",
        f"/console/{rating_study.name}/results/status.json",
        f"/console/{rating_study.name}/results.zip",
        f"/console/{rating_study.name}/judgments.csv",
        f"/console/{rating_study.name}/judgments.jsonl",
    ]
    for url in urls:
        assert client.get(url).status_code == 302, url  # anonymous: to the login page
    stranger = django_user_model.objects.create_user("stranger", password="pw-12345")
    client.force_login(stranger)
    for url in urls:
        assert client.get(url).status_code == 404, url
    assert computed == [] and not StudyResults.objects.exists()


def test_the_study_page_links_to_the_results(admin_client, rating_study):
    page = admin_client.get(f"/console/{rating_study.name}/").content.decode()
    assert f'href="/console/{rating_study.name}/results/"' in page


@pytest.mark.skipif(
    not __import__("os").environ.get("EVALSITE_MEASURE"),
    reason="a measurement, not a test: EVALSITE_MEASURE=1 to run it (prints, asserts nothing)",
)
def test_measure_the_task_at_the_empo_size(tmp_path, admin_client, computed):
    """EmPO's size: 135 contexts × 5 systems × 3 ratings = 2,025 judgments (four sliders
    and a checkbox), batches of 15 items in blocks of 5. Prints how long the task takes."""
    import time

    rows = [json.loads(line) for line in (EXAMPLES / "data/empathy_contexts.jsonl").open()]
    data = tmp_path / "data"
    data.mkdir()
    systems = ["baseline", "sft", "dpo", "length"]
    with (data / "contexts.jsonl").open("w") as out:
        for i in range(135):
            row = dict(rows[i % len(rows)], id=f"ctx-{i:03d}")
            out.write(json.dumps(row) + "\n")
    for s, name in enumerate(systems):
        with (data / f"{name}.jsonl").open("w") as out:
            for i in range(135):
                words = " ".join(["word"] * (5 + (7 * i + 11 * s) % 50))
                out.write(json.dumps({"context_id": f"ctx-{i:03d}", "response": words}) + "\n")
    spec = (EXAMPLES / "demo_rating.yaml").read_text(encoding="utf-8")
    head, _, _ = spec.partition("systems:\n")
    _, _, tail = spec.partition("attention_checks:\n")
    spec = (
        head
        + "systems:\n"
        + "".join(
            f"  - name: {n}\n    kind: imported\n    responses: data/{n}.jsonl\n" for n in systems
        )
        + "  - name: human\n    kind: reference\n"
        + "contexts:\n  file: data/contexts.jsonl\n"
        + "sampling:\n  n_contexts: 135\n  seed: 7\n"
        + "design:\n  batch_size: 15\n  block_size: 5\n  overlap: 3\n  ordering: latin_square\n"
        + "attention_checks:\n"
        + tail
    )
    (tmp_path / "empo.yaml").write_text(spec, encoding="utf-8")
    study = build_study(tmp_path / "empo.yaml").study
    clock = time.perf_counter()
    _judge(study, 135)
    judged = time.perf_counter() - clock
    real = study.judgments.filter(item__attention_check_id="").count()
    clock = time.perf_counter()
    _page(admin_client, study)
    first = time.perf_counter() - clock
    clock = time.perf_counter()
    _page(admin_client, study)
    cached = time.perf_counter() - clock
    row = StudyResults.objects.get()
    from analysis.api import analyze_study

    parts = {}
    for what, out, plots in (("analysis", None, False), ("+ bundle", tmp_path / "b1", False)):
        clock = time.perf_counter()
        analyze_study(study, out, plots=plots)
        parts[what] = time.perf_counter() - clock
    print(
        f"\nof which: analysis alone {parts['analysis']:.2f} s, with the bundle's tables "
        f"{parts['+ bundle']:.2f} s (the rest: figures, zip, readable tables)"
    )
    print(
        f"\nEmPO size: {real} judgments (+ {study.judgments.count() - real} attention checks); "
        f"judging them took {judged:.1f} s; the task {row.seconds:.2f} s; first visit "
        f"(eager: the task inside it) {first:.2f} s; a cached visit {cached:.3f} s; "
        f"stored: {len(bytes(row.bundle_zip)) / 1e6:.2f} MB zip, "
        f"{len(json.dumps(row.data)) / 1e6:.2f} MB data"
    )


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_computes_the_results_on_the_default_queue(
    admin_client, monkeypatch, tmp_path
):
    """With a broker the page dispatches the task and waits; a Celery worker (a subprocess on
    the default queue, Redis) computes it into the test database; the page then shows it.
    PostgreSQL runs only: an in-memory SQLite database cannot be shared with a worker."""
    import time

    from celery import Celery

    from analysis import tasks
    from tests.generation import test_celery_worker as real

    url = real.this_test_database_url()
    if not real.redis_answers(real.BROKER):
        pytest.skip(f"Redis does not answer at {real.BROKER}; CI runs this test with Redis")
    env = dict(os.environ, DATABASE_URL=url, CELERY_BROKER_URL=real.BROKER)
    env.update(CELERY_RESULT_BACKEND=real.BROKER, DJANGO_SETTINGS_MODULE="evalsite.settings")
    env.pop("CHANNEL_LAYER_URL", None)
    study = judged_rating_study()
    client = Celery("evalsite-test-client", broker=real.BROKER, set_as_current=False)
    sent: list[tuple] = []

    def send(args: tuple) -> None:  # what apply_async does with a broker, by the task's name
        sent.append(args)
        client.send_task(tasks.compute_study_results.name, args=args)

    monkeypatch.setattr(tasks, "is_eager", lambda: False)
    monkeypatch.setattr(tasks.compute_study_results, "apply_async", send)
    worker = real.Worker(env, tmp_path / "worker.log", "analysis")
    try:
        worker.wait_ready()
        page = _page(admin_client, study)
        assert 'id="results-computing"' in page and len(sent) == 1
        deadline = time.monotonic() + 300
        status = "pending"
        while status in ("pending", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            status = admin_client.get(f"/console/{study.name}/results/status.json").json()["status"]
        assert status == "ready", worker.log()[-5000:]
        page = _page(admin_client, study)
        assert 'id="summary"' in page and 'id="comparisons-raw"' in page and len(sent) == 1
        assert "analysis.tasks.compute_study_results" in worker.log()
    finally:
        worker.stop()
        client.close()
