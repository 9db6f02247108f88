"""The importer registry and the shared data model (generation/importers/__init__.py, base.py)."""

from __future__ import annotations

import pickle
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from generation.importers import (
    IMPORTERS,
    DatasetImportError,
    ImportedContext,
    ImportOptionError,
    ImportProblem,
    Turn,
    importer_options,
    iter_dataset,
    parse_options,
    run_import,
)
from generation.importers.base import SeenKeys

FIXTURES = Path(__file__).parent / "fixtures"


def test_registry_names():
    assert list(IMPORTERS) == [
        "empathetic_dialogues",
        "prosocial_dialog",
        "real_toxicity_prompts",
        "csv",
        "jsonl",
    ]


def test_unknown_format_lists_the_valid_ones():
    with pytest.raises(ImportOptionError) as info:
        iter_dataset("empathetic", FIXTURES / "ed_sample.csv")
    message = str(info.value)
    assert "unknown dataset format 'empathetic'" in message
    for name in IMPORTERS:
        assert name in message


def test_format_names_forgive_case_and_hyphens():
    contexts = list(iter_dataset("Real-Toxicity-Prompts", FIXTURES / "rtp_prompts.jsonl"))
    assert len(contexts) == 3


def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(
        ImportOptionError, match="has no option 'per_turn'; its options: all_prefixes"
    ):
        iter_dataset("empathetic_dialogues", FIXTURES / "ed_sample.csv", per_turn=True)
    with pytest.raises(ImportOptionError, match="its options: none"):
        iter_dataset("real_toxicity_prompts", FIXTURES / "rtp_prompts.jsonl", id="x")


def test_importer_options():
    assert importer_options("empathetic_dialogues") == {"all_prefixes": False}
    assert importer_options("prosocial_dialog") == {"per_turn": False}
    assert importer_options("real_toxicity_prompts") == {}
    assert set(importer_options("csv")) == {
        "turns",
        "id",
        "speakers",
        "speaker_names",
        "reference",
        "metadata",
        "turn_separator",
        "delimiter",
    }
    assert set(importer_options("jsonl")) == set(importer_options("csv")) - {"delimiter"}


def test_boolean_options_from_strings():
    with pytest.raises(ImportOptionError, match="all_prefixes= must be true or false"):
        iter_dataset("empathetic_dialogues", FIXTURES / "ed_sample.csv", all_prefixes="maybe")
    report = run_import("empathetic_dialogues", FIXTURES / "ed_bad.csv", skip_bad="yes")
    assert report.contexts == 2


def test_parse_options_for_a_command_line():
    assert parse_options(["turns=history", "metadata=a", "metadata=b", "reference=gold=x"]) == {
        "turns": "history",
        "metadata": "a,b",
        "reference": "gold=x",
    }
    with pytest.raises(ImportOptionError, match="expected key=value"):
        parse_options(["turns"])
    with pytest.raises(ImportOptionError, match="given twice"):
        parse_options(["id=a", "id=b"])


def test_run_import_counts_and_keeps_a_bounded_list_of_problems():
    seen = []
    report = run_import(
        "empathetic_dialogues", FIXTURES / "ed_bad.csv", seen.append, skip_bad=True, max_skipped=2
    )
    assert report.contexts == 2 and len(seen) == 2
    assert report.skipped_total == 5
    assert [p.line for p in report.skipped] == [4, 5]


def test_run_import_without_skip_bad_raises():
    with pytest.raises(ImportProblem, match="line 4"):
        run_import("empathetic_dialogues", FIXTURES / "ed_bad.csv")


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("empathetic_dialogues", {}),
        ("prosocial_dialog", {}),
        ("real_toxicity_prompts", {}),
        ("csv", {"turns": "text"}),
        ("jsonl", {"turns": "text"}),
    ],
)
def test_every_format_refuses_an_empty_file(tmp_path, fmt, options):
    path = tmp_path / "nothing.txt"
    path.write_text("")
    with pytest.raises(
        ImportProblem, match=r"no contexts found in nothing.txt \(the file is empty\)"
    ):
        list(iter_dataset(fmt, path, **options))


def test_import_problem_reads_well_and_survives_pickling():
    problem = ImportProblem(7, "expected 8 or 9 fields, found 5", "/data/contexts.csv")
    assert str(problem) == "contexts.csv line 7: expected 8 or 9 fields, found 5"
    assert str(ImportProblem(None, "file not found", "x/y.csv")) == "y.csv: file not found"
    assert isinstance(problem, DatasetImportError)
    copy = pickle.loads(pickle.dumps(problem))
    assert (copy.line, copy.reason, copy.path) == (7, problem.reason, "/data/contexts.csv")


def test_contexts_are_frozen_and_hashable():
    context = ImportedContext("1", (Turn("A", "hi"),), None, {"emotion": "calm"})
    with pytest.raises(FrozenInstanceError):
        context.external_id = "2"  # type: ignore[misc]
    same = ImportedContext("1", (Turn("A", "hi"),), None, {"emotion": "calm"})
    assert context == same and len({context, same}) == 1  # metadata is left out of the hash


def test_seen_keys_membership_survives_growth():
    seen = SeenKeys(capacity=4)
    for i in range(5000):
        seen.add(f"conv:{i}")
    seen.add("conv:7")
    assert len(seen) == 5000
    assert all(f"conv:{i}" in seen for i in range(0, 5000, 7))
    assert not any(f"other:{i}" in seen for i in range(1000))
