"""RealToxicityPrompts importer (generation/importers/rtp.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generation.importers import ImportProblem
from generation.importers.rtp import ATTRIBUTES, iter_contexts

FIXTURES = Path(__file__).parent / "fixtures"
PROMPTS = FIXTURES / "rtp_prompts.jsonl"


def record(text="Some prompt", toxicity=0.5, **extra):
    data = {
        "filename": "f.txt",
        "begin": 0,
        "end": 10,
        "challenging": False,
        "prompt": {"text": text, "toxicity": toxicity},
        "continuation": {"text": " and more", "toxicity": 0.1},
    }
    data.update(extra)
    return json.dumps(data)


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_prompts_become_single_turn_contexts_whatever_the_key_order():
    contexts = list(iter_contexts(PROMPTS))
    assert [c.external_id for c in contexts] == [
        "0001-madeup.txt:10-95",
        "0002-madeup.txt:200-310",
        "0003-madeup.txt:0-77",
    ]
    second = contexts[1]  # every key in reverse order on this line
    assert [(t.speaker, t.text) for t in second.turns] == [
        ("Prompt", "He walked into the meeting late")
    ]
    assert second.reference_response == " and then everybody started shouting at once."
    assert second.metadata["challenging"] is True
    assert second.metadata["prompt_toxicity"] == 0.61
    assert second.metadata["prompt_insult"] == 0.4
    assert second.metadata["filename"] == "0002-madeup.txt"
    assert (second.metadata["begin"], second.metadata["end"]) == (200, 310)


def test_null_scores_stay_none_and_every_score_key_is_present():
    contexts = list(iter_contexts(PROMPTS))
    for context in contexts:
        for part in ("prompt", "continuation"):
            for attribute in ATTRIBUTES:
                assert f"{part}_{attribute}" in context.metadata
    assert contexts[1].metadata["continuation_toxicity"] is None
    assert all(contexts[2].metadata[f"prompt_{a}"] is None for a in ATTRIBUTES)
    assert contexts[2].metadata["continuation_toxicity"] == 0.003
    assert contexts[0].metadata["challenging"] is False


def test_missing_continuation_and_id_fallback(tmp_path):
    path = write(tmp_path, [json.dumps({"prompt": {"text": "Just a prompt"}})])
    (context,) = iter_contexts(path)
    assert context.external_id == "line:1"
    assert context.reference_response is None
    assert context.metadata["prompt_toxicity"] is None
    assert context.metadata["continuation_toxicity"] is None


def test_bad_records_raise_or_are_skipped_with_line_numbers(tmp_path):
    path = write(
        tmp_path,
        [
            record(),
            record(text="x", toxicity="high", begin=20),  # line 2: score not a number
            "{not json",  # line 3
            record(text="", begin=30),  # line 4: empty prompt
            record(text="y", begin=40, challenging="yes"),  # line 5
            record(),  # line 6: duplicate id
            record(text="z", toxicity=True, begin=50),  # line 7: a bool is not a score
            record(text="ok", begin=60),
        ],
    )
    with pytest.raises(ImportProblem) as info:
        list(iter_contexts(path))
    assert str(info.value) == (
        "prompts.jsonl line 2: prompt.toxicity must be a number or null, found 'high'"
    )
    problems = []
    contexts = list(iter_contexts(path, skip_bad=True, on_skip=problems.append))
    assert [c.external_id for c in contexts] == ["f.txt:0-10", "f.txt:60-10"]
    assert [p.line for p in problems] == [2, 3, 4, 5, 6, 7]
    assert "duplicate prompt id 'f.txt:0-10'" in problems[4].reason


@pytest.mark.parametrize(
    ("fixture", "hint"),
    [
        (
            "ed_sample.csv",
            "it looks like an EmpatheticDialogues CSV; use format 'empathetic_dialogues'",
        ),
        (
            "prosocial_turns.jsonl",
            "it looks like a ProsocialDialog row; use format 'prosocial_dialog'",
        ),
        ("prosocial_dialogues.json", "it looks like a JSON array"),
        ("generic_contexts.csv", "use format 'csv'"),
    ],
)
def test_wrong_format_is_reported_at_line_1_even_with_skip_bad(fixture, hint):
    with pytest.raises(ImportProblem) as info:
        list(iter_contexts(FIXTURES / fixture, skip_bad=True))
    assert info.value.line == 1
    assert hint in str(info.value)


def test_empty_file_is_an_error(tmp_path):
    path = write(tmp_path, [""])
    with pytest.raises(
        ImportProblem,
        match=r"prompts.jsonl: no contexts found in prompts.jsonl \(the file is empty\)",
    ):
        list(iter_contexts(path))
