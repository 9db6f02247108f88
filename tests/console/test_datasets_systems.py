"""The console's datasets, systems and generation pages: uploads in every format with the
importers' located problems (nothing imported on error), a dataset's contexts as annotators
see them, registering a system with its problems next to the fields, and launching,
watching, cancelling and resuming a generation job (in-process: no broker)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from console import datasets as dataset_views
from generation import services
from generation.models import Candidate, Context, Dataset, GenerationJob, System

from .conftest import researcher

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = pytest.mark.django_db

BASE = Path(settings.BASE_DIR)
EXAMPLES = BASE / "examples" / "datasets"
FIXTURES = BASE / "tests" / "generation" / "fixtures"


@pytest.fixture
def uploads(settings, tmp_path) -> Path:
    """The uploads folder, in a folder of the test's own."""
    settings.VAR_DIR = tmp_path / "var"
    return tmp_path / "var" / "uploads"


@pytest.fixture
def client(uploads) -> Client:
    c = Client()
    c.force_login(researcher("rita"))
    return c


def upload(client: Client, path: Path, fmt: str, name: str, mapping: str = "", **extra):
    data = {
        "name": name,
        "format": fmt,
        "mapping": mapping,
        "file": SimpleUploadedFile(path.name, path.read_bytes()),
        **extra,
    }
    return client.post("/datasets/upload/", data)


def text(response) -> str:
    return response.content.decode()


# --------------------------------------------------------------------------- uploads

FORMATS = [
    ("empathetic_dialogues", EXAMPLES / "empathetic_dialogues.csv", "", None),
    ("empathetic_dialogues", FIXTURES / "ed_sample.csv", "all_prefixes=true", None),
    ("prosocial_dialog", EXAMPLES / "prosocial_dialog.json", "", None),
    ("prosocial_dialog", FIXTURES / "prosocial_turns.jsonl", "", None),
    ("real_toxicity_prompts", FIXTURES / "rtp_prompts.jsonl", "", None),
    ("csv", FIXTURES / "generic_contexts.csv", "history=turns\nid=id\ngold=reference", "c1"),
    (
        "jsonl",
        FIXTURES / "generic_contexts.jsonl",
        "meta.uid=id\ndialog=turns\nanswer=reference",
        "g-1",
    ),
    ("jsonl", EXAMPLES / "mine.jsonl", "uid=id\nhistory=turns\ngold=reference", "m-1"),
]


@pytest.mark.parametrize(
    ("fmt", "path", "mapping", "first_id"), FORMATS, ids=lambda v: str(v)[-30:]
)
def test_every_format_uploads_and_its_page_shows_the_counts(
    client, uploads, fmt, path, mapping, first_id
):
    response = upload(client, path, fmt, "up", mapping)
    assert response.status_code == 302, text(response)
    dataset = Dataset.objects.get(name="up")
    assert response["Location"] == f"/datasets/{dataset.pk}/"
    assert dataset.format == fmt and dataset.source_path == f"upload:{path.name}"
    n = Context.objects.filter(dataset=dataset).count()
    assert n > 0
    page = text(client.get(response["Location"]))
    assert f'<strong data-count="contexts">{n}</strong>' in page
    assert f"Imported {n} contexts into up." in page
    if first_id is not None:
        assert Context.objects.filter(dataset=dataset).order_by("id")[0].external_id == first_id
    assert not any(uploads.iterdir()), "the upload is removed once imported"


def test_a_bad_file_shows_every_located_problem_and_imports_nothing(client, uploads):
    response = upload(client, FIXTURES / "ed_bad.csv", "empathetic_dialogues", "bad")
    assert response.status_code == 400
    page = text(response)
    listed = re.findall(r"<li>(ed_bad\.csv: line (\d+): [^<]*)</li>", page)
    assert [int(line) for _, line in listed] == [4, 5, 6, 9, 11]
    assert listed[0][0] == (
        "ed_bad.csv: line 4: expected 8 fields (or 9+ with candidate responses), found 5"
    )
    assert "Nothing was imported: 5 problems in the file" in page
    assert Dataset.objects.count() == 0 and Context.objects.count() == 0
    assert not any(uploads.iterdir())
    # the form keeps what was typed
    assert 'value="bad"' in page


def test_skip_bad_imports_the_good_rows_and_lists_the_bad_ones(client):
    response = upload(
        client, FIXTURES / "ed_bad.csv", "empathetic_dialogues", "half", skip_bad="on"
    )
    assert response.status_code == 302
    assert Context.objects.filter(dataset__name="half").count() == 2
    page = text(client.get(response["Location"]))
    assert "Skipped 5 bad rows: ed_bad.csv line 4:" in page


def test_a_wrong_format_for_the_file_says_which_to_use(client):
    response = upload(client, FIXTURES / "ed_sample.csv", "real_toxicity_prompts", "x")
    assert response.status_code == 400
    assert "ed_sample.csv: line 1:" in text(response) and "empathetic_dialogues" in text(response)
    assert Dataset.objects.count() == 0


def _field_errors(page: str, field: str) -> str:
    """The error list Django renders with the field (id_<field>_error)."""
    found = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', page, re.S)
    return found.group(1) if found else ""


def test_mapping_problems_are_shown_next_to_the_mapping(client):
    no_turns = upload(client, FIXTURES / "generic_contexts.csv", "csv", "g", "gold=reference")
    assert no_turns.status_code == 400
    assert "turns" in _field_errors(text(no_turns), "mapping")
    unknown = upload(
        client, FIXTURES / "generic_contexts.csv", "csv", "g", "history=turns\ncolour=red"
    )
    assert "has no option" in _field_errors(text(unknown), "mapping")
    missing_column = upload(client, FIXTURES / "generic_contexts.csv", "csv", "g", "nope=turns")
    assert "nope" in text(missing_column) and "generic_contexts.csv: line 1" in text(missing_column)
    assert Dataset.objects.count() == 0


def test_a_taken_name_and_a_bad_name_are_shown_next_to_the_name(client):
    assert (
        upload(client, FIXTURES / "rtp_prompts.jsonl", "real_toxicity_prompts", "rtp").status_code
        == 302
    )
    again = upload(client, FIXTURES / "rtp_prompts.jsonl", "real_toxicity_prompts", "rtp")
    assert "already exists" in _field_errors(text(again), "name")
    bad = upload(client, FIXTURES / "rtp_prompts.jsonl", "real_toxicity_prompts", "a b/c")
    assert _field_errors(text(bad), "name")
    assert Dataset.objects.count() == 1


def test_a_file_over_the_bound_is_refused(client, uploads, monkeypatch):
    monkeypatch.setattr(dataset_views, "UPLOAD_BYTES", 100)
    response = upload(client, EXAMPLES / "empathetic_dialogues.csv", "empathetic_dialogues", "big")
    assert response.status_code == 400
    assert "larger than 100 bytes" in _field_errors(text(response), "file")
    assert Dataset.objects.count() == 0 and not any(uploads.iterdir())


def test_the_upload_form_names_the_fields_of_a_mapping(client):
    page = text(client.get("/datasets/upload/"))
    for field in ("turns", "id", "speakers", "reference", "metadata"):
        assert field in _help(page, "mapping")
    assert "all_prefixes=false" in page and "turn_separator" in page


def _help(page: str, field: str) -> str:
    found = re.search(rf'<div class="helptext" id="id_{field}_helptext">(.*?)</div>', page, re.S)
    return found.group(1) if found else ""


# --------------------------------------------------------------------------- browsing


def test_contexts_are_shown_escaped_without_bidi_controls_a_page_at_a_time(client):
    dataset = Dataset.objects.create(name="tricky", format="jsonl")
    Context.objects.bulk_create(
        [
            Context(
                dataset=dataset,
                external_id=f"c{i:02d}",
                turns=[
                    {"speaker": "A<b>", "text": f"<script>alert({i})</script> \u202eevil"},
                    {"speaker": "B", "text": "fine & dandy"},
                ],
                reference_response="<i>ref</i>" if i % 2 else None,
            )
            for i in range(45)
        ]
    )
    first = text(client.get(f"/datasets/{dataset.pk}/"))
    assert first.count('class="context"') == dataset_views.CONTEXTS_PER_PAGE
    assert "<script>alert(" not in first and "&lt;script&gt;alert(0)&lt;/script&gt;" in first
    assert "A&lt;b&gt;" in first and "fine &amp; dandy" in first
    assert "\u202e" not in first
    assert '<bdi class="text">' in first and "&lt;i&gt;ref&lt;/i&gt;" in first
    assert "Page 1 of 3" in first and 'href="?page=2"' in first
    last = text(client.get(f"/datasets/{dataset.pk}/?page=3"))
    assert last.count('class="context"') == 5 and 'data-context="c44"' in last
    assert 'data-context="c00"' not in last
    listing = text(client.get("/datasets/"))
    assert 'data-dataset="tricky"' in listing and ">45<" in listing


def test_pages_need_a_login_and_a_missing_dataset_is_404(client):
    assert Client().get("/datasets/").status_code == 302
    assert Client().post("/datasets/upload/").status_code == 302
    assert client.get("/datasets/999/").status_code == 404
    assert client.get("/systems/999/").status_code == 404
    assert client.get("/generation/999/").status_code == 404


def test_an_upload_without_its_csrf_token_is_refused(uploads):
    c = Client(enforce_csrf_checks=True)
    c.force_login(researcher("carl"))
    path = EXAMPLES / "empathetic_dialogues.csv"
    response = c.post(
        "/datasets/upload/",
        {
            "name": "x",
            "format": "empathetic_dialogues",
            "file": SimpleUploadedFile(path.name, path.read_bytes()),
        },
    )
    assert response.status_code == 403 and Dataset.objects.count() == 0


# --------------------------------------------------------------------------- systems


def test_a_bad_system_config_shows_each_problem_next_to_its_field(client, tmp_path):
    response = client.post(
        "/systems/register/",
        {
            "name": "broken",
            "kind": "hf_causal",
            "path": str(tmp_path / "no-such-model"),
            "options": "top_p: 7\nbogus: 1\n",
        },
    )
    assert response.status_code == 400
    page = text(response)
    assert "no-such-model" in _field_errors(page, "path") and "does not exist" in _field_errors(
        page, "path"
    )
    options = _field_errors(page, "options")
    assert "bogus: unknown option" in options
    assert System.objects.count() == 0


def test_the_options_yaml_is_read_strictly_with_its_line(client):
    response = client.post(
        "/systems/register/",
        {"name": "s", "kind": "hf_causal", "path": "/x", "options": "top_p: 0.9\ntop_p: 0.8\n"},
    )
    assert response.status_code == 400
    assert "line 2" in _field_errors(text(response), "options")
    listed = client.post(
        "/systems/register/", {"name": "s", "kind": "hf_causal", "options": "[1, 2]"}
    )
    assert "must be a mapping" in _field_errors(text(listed), "options")
    assert System.objects.count() == 0


def test_a_kind_without_config_registers_and_refuses_options(client):
    refused = client.post(
        "/systems/register/", {"name": "ref", "kind": "reference", "options": "top_p: 1"}
    )
    assert refused.status_code == 400 and "takes no configuration" in text(refused)
    done = client.post("/systems/register/", {"name": "ref", "kind": "reference"})
    system = System.objects.get(name="ref")
    assert done.status_code == 302 and done["Location"] == f"/systems/{system.pk}/"
    page = text(client.get(done["Location"]))
    assert "is not generated" in page and 'id="launch-form"' not in page
    taken = client.post("/systems/register/", {"name": "ref", "kind": "reference"})
    assert "already registered" in _field_errors(text(taken), "name")
    assert 'data-system="ref"' in text(client.get("/systems/"))


# --------------------------------------------------------------------------- generation


@pytest.fixture
def gpt2_system(tiny_gpt2):
    return services.register_system(
        "tiny",
        "hf_causal",
        {
            "path": str(tiny_gpt2),
            "device": "cpu",
            "chat_template": False,
            "decoding": {"max_new_tokens": 3, "do_sample": False},
            "chunk_size": 1,
        },
    )


@pytest.fixture
def small_dataset():
    dataset = Dataset.objects.create(name="small", format="jsonl")
    Context.objects.bulk_create(
        [
            Context(
                dataset=dataset,
                external_id=f"c{i}",
                turns=[{"speaker": "A", "text": f"Hello {i}."}],
            )
            for i in range(4)
        ]
    )
    return dataset


@pytest.mark.models
def test_registering_a_model_and_launching_a_job_shows_it_completed(
    client, tiny_gpt2, small_dataset
):
    registered = client.post(
        "/systems/register/",
        {
            "name": "tiny-web",
            "kind": "hf_causal",
            "path": str(tiny_gpt2),
            "options": "device: cpu\nchat_template: false\nmax_new_tokens: 3\ndo_sample: false\n",
        },
    )
    assert registered.status_code == 302, text(registered)
    system = System.objects.get(name="tiny-web")
    system_page = text(client.get(registered["Location"]))
    assert 'id="launch-form"' in system_page and "&quot;max_new_tokens&quot;: 3" in system_page
    launched = client.post(
        "/generation/launch/",
        {
            "system": system.pk,
            "dataset": small_dataset.pk,
            "limit": 3,
            "back": registered["Location"],
        },
    )
    job = GenerationJob.objects.get()
    assert launched.status_code == 302 and launched["Location"] == f"/generation/{job.pk}/"
    page = text(client.get(launched["Location"]))
    assert 'data-field="status">completed<' in page
    assert 'data-field="done">3<' in page and 'data-field="total">3<' in page
    assert Candidate.objects.filter(generation_job=job).count() == 3
    assert 'id="cancel"' not in page and 'id="resume"' not in page
    assert client.get(f"/generation/{job.pk}/progress.json").json() == {
        "job": job.pk,
        "status": "completed",
        "done": 3,
        "total": 3,
        "error": "",
    }
    # the dataset's page launches too, and lists the jobs
    dataset_page = text(client.get(f"/datasets/{small_dataset.pk}/"))
    assert f'href="/generation/{job.pk}/"' in dataset_page and 'id="launch-form"' in dataset_page


def test_a_launch_that_cannot_run_says_why(client, small_dataset):
    reference = System.objects.create(name="ref", kind="reference")
    response = client.post(
        "/generation/launch/",
        {"system": reference.pk, "dataset": small_dataset.pk, "back": "/systems/"},
    )
    assert response.status_code == 302 and response["Location"] == "/systems/"
    assert "system:" in text(client.get("/systems/")) and GenerationJob.objects.count() == 0
    away = client.post(
        "/generation/launch/", {"dataset": small_dataset.pk, "back": "https://evil.example/"}
    )
    assert away["Location"] == "/console/generation/"


@pytest.mark.models
def test_cancel_then_resume_generates_only_what_is_missing(client, gpt2_system, small_dataset):
    job = services.create_job(gpt2_system, small_dataset.contexts.all())
    response = client.get(f"/generation/{job.pk}/")
    page = text(response)
    assert 'id="cancel"' in page and ">Start<" in page
    # the page subscribes to the job's WebSocket, falls back to polling, with the CSP nonce
    nonce = re.search(r'<script nonce="([^"]+)">', page).group(1)
    assert f"'nonce-{nonce}'" in response["Content-Security-Policy"]
    assert "/ws/generation/" in page and "progress.json" in page
    assert client.get(f"/generation/{job.pk}/cancel/").status_code == 405
    cancelled = client.post(f"/generation/{job.pk}/cancel/")
    assert cancelled.status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"
    page = text(client.get(f"/generation/{job.pk}/"))
    assert 'id="cancel"' not in page and "Resume (only the missing candidates)" in page
    assert Candidate.objects.filter(generation_job=job).count() == 0
    resumed = client.post(f"/generation/{job.pk}/resume/")
    assert resumed.status_code == 302
    job.refresh_from_db()
    assert job.status == "completed"
    assert Candidate.objects.filter(generation_job=job).count() == 4
    again = client.post(f"/generation/{job.pk}/resume/")
    assert "nothing to resume" in text(client.get(again["Location"]))
    assert Candidate.objects.filter(generation_job=job).count() == 4


def test_cancel_and_resume_need_the_csrf_token(small_dataset):
    system = System.objects.create(name="s", kind="hf_causal", config={})
    job = GenerationJob.objects.create(system=system, dataset=small_dataset)
    c = Client(enforce_csrf_checks=True)
    c.force_login(researcher("carl"))
    assert c.post(f"/generation/{job.pk}/cancel/").status_code == 403
    assert c.post(f"/generation/{job.pk}/resume/").status_code == 403
    job.refresh_from_db()
    assert job.status == "pending"
