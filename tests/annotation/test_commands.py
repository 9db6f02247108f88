"""validate_spec, create_study, setup_demo and export_judgments from the command line."""

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from annotation.assignment import output_coverage, request_work
from annotation.export import LONG_COLUMNS
from annotation.models import Batch, BatchSlot, Item, Study
from annotation.services import get_or_create_participant, next_entry, record_judgment
from generation.models import Candidate, Context

pytestmark = pytest.mark.django_db
EXAMPLES = Path(settings.BASE_DIR) / "examples"


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_validate_spec_reports_valid_specs():
    for name in ("demo_rating.yaml", "demo_pairwise.yaml", "reference.yaml"):
        assert ": valid (" in run("validate_spec", str(EXAMPLES / name))
    assert "1 attention check (1 per batch))" in run(
        "validate_spec", str(EXAMPLES / "demo_rating.yaml")
    )
    assert "attention" not in run("validate_spec", str(EXAMPLES / "demo_pairwise.yaml"))
    assert Study.objects.count() == 0


def _broken_copy(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLES / "data", tmp_path / "data")
    text = (EXAMPLES / "demo_rating.yaml").read_text()
    text = text.replace("block_size: 2", "block_size: 4")
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    return path


def test_invalid_spec_names_the_field_and_creates_nothing(tmp_path):
    path = _broken_copy(tmp_path)
    with pytest.raises(CommandError) as error:
        run("validate_spec", str(path))
    assert "design.block_size: 4 does not divide design.batch_size 6" in str(error.value)
    with pytest.raises(CommandError):
        run("create_study", str(path))
    assert Study.objects.count() == Context.objects.count() == Candidate.objects.count() == 0


def test_create_study_prints_the_design_report_and_link():
    out = run("create_study", str(EXAMPLES / "demo_rating.yaml"), "--base-url", "http://host:9")
    study = Study.objects.get()
    assert f"annotator link: http://host:9/a/{study.name}/" in out
    assert "judgments" in out.lower()
    report = study.design_report["report"]
    assert report["balanced"]["outputs"] is True
    assert "Attention checks: 1 per batch" in out
    slots = BatchSlot.objects.filter(batch__study=study).count()
    assert slots == sum(Batch.objects.filter(study=study).values_list("slots", flat=True))
    # Every output's judgments (slots of the batches holding it) equal the overlap; the
    # attention check shared by every batch is not an output.
    counts = {}
    for batch in Batch.objects.filter(study=study).prefetch_related("entries__item"):
        for entry in batch.entries.all():
            if entry.item.is_attention_check:
                continue
            counts[entry.item.output_key] = counts.get(entry.item.output_key, 0) + batch.slots
    assert set(counts.values()) == {study.overlap}
    assert output_coverage(study) == counts
    assert Item.objects.filter(study=study, attention_check_id="").count() == len(counts)
    assert Item.objects.filter(study=study).exclude(attention_check_id="").count() == 1
    with pytest.raises(CommandError, match="already exists"):
        run("create_study", str(EXAMPLES / "demo_rating.yaml"))


def test_setup_demo_is_idempotent_and_prints_links():
    first = run("setup_demo")
    second = run("setup_demo")
    assert Study.objects.count() == 2
    for study in Study.objects.all():
        assert f"/a/{study.name}/" in first and f"/a/{study.name}/" in second
    assert "user: researcher" in first


def _judge_some(study, n_participants=2):
    for i in range(n_participants):
        p = get_or_create_participant(study, f"PROLIFIC-{i}", "prolific")
        assignment = request_work(p).assignment
        entry = next_entry(assignment)
        values = {
            d["key"]: (
                40 + i if d["type"] == "slider" else True if d["type"] == "checkbox" else "a"
            )
            for d in study.dimensions
        }
        record_judgment(p, entry_id=entry.id, values=values, rationales={}, idempotency_key=f"k{i}")


def test_export_judgments_long_format_csv_and_jsonl(tmp_path):
    run("create_study", str(EXAMPLES / "demo_rating.yaml"))
    study = Study.objects.get()
    _judge_some(study)
    out = tmp_path / "j.csv"
    assert "wrote 10 rows" in run("export_judgments", study.name, "--out", str(out))
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == LONG_COLUMNS
    assert LONG_COLUMNS[-3:] == ["server_received_at", "attention_check", "attention_passed"]
    assert len(rows) == 2 * len(study.dimensions)
    # the first item of a batch is never an attention check
    assert {(r["attention_check"], r["attention_passed"]) for r in rows} == {("", "")}
    assert all(r["annotator"].startswith("a-") and "PROLIFIC" not in r["annotator"] for r in rows)
    assert {r["assignment_status"] for r in rows} == {"active"}
    jsonl = tmp_path / "j.jsonl"
    run("export_judgments", study.name, "--out", str(jsonl), "--format", "jsonl", "--real-ids")
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert {r["annotator"] for r in records} == {"PROLIFIC-0", "PROLIFIC-1"}
    slider = next(r for r in records if r["dimension_type"] == "slider")
    assert isinstance(slider["value"], int)


def test_export_pairwise_names_the_preferred_system(tmp_path):
    run("create_study", str(EXAMPLES / "demo_pairwise.yaml"))
    study = Study.objects.get()
    _judge_some(study, 1)
    out = tmp_path / "p.csv"
    run("export_judgments", study.name, "--out", str(out))
    rows = list(csv.DictReader(out.open()))
    assert rows and all(r["preferred_system"] == r["system_a"] for r in rows)


def test_export_unknown_study_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="no study named 'nope'"):
        run("export_judgments", "nope", "--out", str(tmp_path / "x.csv"))


def test_allow_back_is_refused_rather_than_ignored(tmp_path):
    shutil.copytree(EXAMPLES / "data", tmp_path / "data")
    text = (
        (EXAMPLES / "demo_rating.yaml").read_text().replace("allow_back: false", "allow_back: true")
    )
    path = tmp_path / "back.yaml"
    path.write_text(text)
    with pytest.raises(CommandError, match="allow_back: going back"):
        run("validate_spec", str(path))
