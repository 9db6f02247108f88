"""Bounded dataset inputs (issue 9): every importer refuses what the database cannot hold or
what would exhaust memory, with the file and line, and (the command) imports nothing.

NUL characters (raw, or JSON's \\u0000 escape) and lone surrogates (JSON's \\ud800) are bad
rows; a line longer than ``DATA_LINE_CHARS``, a file (or its decompressed stream) larger than
``DATA_FILE_BYTES``, a device such as /dev/zero and a context id longer than its column are
refused too.
"""

from __future__ import annotations

import concurrent.futures
import gzip
import io
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core import limits
from generation.importers import ImportProblem, iter_dataset
from generation.models import Context, Dataset

FIXTURES = Path(__file__).parent / "fixtures"
HANG_BOUND_S = 10  # a bound on a hang, not a measure of speed


def with_replaced(tmp_path: Path, fixture: str, old: str, new: str) -> Path:
    text = (FIXTURES / fixture).read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / fixture
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").split("\n")
    return next(n for n, line in enumerate(lines, 1) if needle in line)


def problem_of(format: str, path: Path, **options) -> ImportProblem:
    with pytest.raises(ImportProblem) as raised:
        list(iter_dataset(format, path, **options))
    return raised.value


GENERIC_JSONL = {"turns": "dialog", "id": "meta.uid", "reference": "answer"}
GENERIC_CSV = {"turns": "history", "id": "id", "reference": "gold"}

# (format, fixture, text to replace, bad text, options, what the reason says)
NUL_CASES = [
    (
        "empathetic_dialogues",
        "ed_sample.csv",
        "Oh wow_comma_",
        "Oh\x00wow_comma_",
        {},
        "utterance (field 6) contains a NUL character (U+0000) at character 3",
    ),
    (
        "csv",
        "generic_contexts.csv",
        "Oh no, that sounds",
        "Oh no,\x00 that sounds",
        GENERIC_CSV,
        "gold (field 7) contains a NUL character (U+0000) at character 7",
    ),
    (
        "real_toxicity_prompts",
        "rtp_prompts.jsonl",
        '"He walked into',
        '"He walked\\u0000 into',
        {},
        "prompt.text contains a NUL character (U+0000) at character 10",
    ),
    (
        "prosocial_dialog",
        "prosocial_turns.jsonl",
        '"Yeah, I got',
        '"Yeah,\\ud800 I got',
        {},
        "context contains a lone surrogate (U+D800) at character 6",
    ),
    (
        "jsonl",
        "generic_contexts.jsonl",
        '"Do you have',
        '"Do you\\u0000 have',
        GENERIC_JSONL,
        "dialog[0].content contains a NUL character (U+0000) at character 7",
    ),
]


@pytest.mark.parametrize(
    ("format", "fixture", "old", "new", "options", "reason"),
    NUL_CASES,
    ids=[f"{case[0]}-{case[1]}" for case in NUL_CASES],
)
def test_nul_and_lone_surrogates_are_bad_rows_at_their_line(
    tmp_path, format, fixture, old, new, options, reason
):
    path = with_replaced(tmp_path, fixture, old, new)
    # the line the record starts on (a CSV record may span lines)
    needle = "c1," if format == "csv" else new.split("\\")[0].split("\x00")[0]
    problem = problem_of(format, path, **options)
    assert problem.line == line_of(path, needle)
    assert reason in problem.reason
    # with skip_bad the row is skipped and counted, the others imported
    skipped = []
    contexts = list(iter_dataset(format, path, skip_bad=True, on_skip=skipped.append, **options))
    assert len(skipped) >= 1 and contexts
    assert all("\x00" not in t.text for c in contexts for t in c.turns)


def test_a_surrogate_in_a_json_array_of_dialogues_is_located(tmp_path):
    text = (FIXTURES / "prosocial_dialogues.json").read_text(encoding="utf-8")
    first_context = text.index('"context": "') + len('"context": "')
    path = tmp_path / "dialogues.json"
    path.write_text(text[:first_context] + "\\udfff" + text[first_context:], encoding="utf-8")
    problem = problem_of("prosocial_dialog", path)
    assert "contains a lone surrogate (U+DFFF) at character 1" in problem.reason
    assert problem.line is not None


def test_a_line_longer_than_the_bound_is_refused_at_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "DATA_LINE_CHARS", 2000)
    path = with_replaced(tmp_path, "rtp_prompts.jsonl", "He walked into", "x" * 3000)
    problem = problem_of("real_toxicity_prompts", path, skip_bad=True)  # fatal: no resync
    assert (problem.line, problem.reason) == (2, "the line is longer than 2,000 characters")


def test_a_file_larger_than_the_bound_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "DATA_FILE_BYTES", 100)
    path = FIXTURES / "ed_sample.csv"
    problem = problem_of("empathetic_dialogues", path)
    assert problem.line is None
    assert problem.reason == (
        f"is {path.stat().st_size:,} bytes; a dataset file may be at most 100 bytes"
    )


def test_a_gzip_bomb_stops_at_the_bound(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "DATA_FILE_BYTES", 1 << 20)
    path = tmp_path / "bomb.jsonl.gz"
    with gzip.open(path, "wb") as out:
        for _ in range(64):
            out.write(b"\n" * (1 << 16))  # 4 MB of blank lines, a few kB compressed
    assert path.stat().st_size < 1 << 16
    problem = problem_of("jsonl", path, turns="t")
    assert problem.reason == "the file goes on past 1,048,576 characters"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_is_refused_at_once():
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        future = pool.submit(problem_of, "jsonl", Path("/dev/zero"), turns="t")
        problem = future.result(timeout=HANG_BOUND_S)
    finally:
        pool.shutdown(wait=False)
    assert problem.reason == "is not a regular file"


def test_a_context_id_longer_than_its_column_is_refused(tmp_path):
    path = with_replaced(
        tmp_path, "generic_contexts.jsonl", '"uid": "g-2"', f'"uid": "{"g" * 201}"'
    )
    problem = problem_of("jsonl", path, **GENERIC_JSONL)
    assert "is 201 characters long; at most 200 (the longest id the database holds)" in (
        problem.reason
    )
    contexts = list(iter_dataset("jsonl", path, skip_bad=True, **GENERIC_JSONL))
    assert [c.external_id for c in contexts] == ["g-1", "g-3"][: len(contexts)]


# --------------------------------------------------------------------------- the command


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_dataset", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_the_command_names_the_line_and_imports_nothing(tmp_path):
    path = with_replaced(tmp_path, "rtp_prompts.jsonl", '"He walked into', '"He walked\\u0000 into')
    with pytest.raises(CommandError) as error:
        run("real_toxicity_prompts", str(path), "--name", "rtp")
    assert "rtp_prompts.jsonl line 2: prompt.text contains a NUL character" in str(error.value)
    assert "nothing was imported" in str(error.value)
    assert Dataset.objects.count() == 0 and Context.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["Not A Slug!", "n" * 121, ""])
def test_the_command_refuses_a_dataset_name_that_is_no_slug_or_too_long(tmp_path, name):
    shutil.copy(FIXTURES / "rtp_prompts.jsonl", tmp_path / "p.jsonl")
    with pytest.raises(CommandError, match=r"--name: must be a slug .* of at most 120 characters"):
        run("real_toxicity_prompts", str(tmp_path / "p.jsonl"), "--name", name)
    assert Dataset.objects.count() == 0
