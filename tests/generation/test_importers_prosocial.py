"""ProsocialDialog importer (generation/importers/prosocial.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generation.importers import ImportProblem, iter_dataset
from generation.importers.base import Source, json_array_items
from generation.importers.prosocial import iter_contexts

FIXTURES = Path(__file__).parent / "fixtures"
TURNS = FIXTURES / "prosocial_turns.jsonl"
DIALOGUES = FIXTURES / "prosocial_dialogues.json"
RELEASE = FIXTURES / "prosocial_release.json"


def row(dialogue_id, response_id, done=False, **extra):
    data = {
        "context": f"user says {dialogue_id}.{response_id}",
        "response": f"bot answers {dialogue_id}.{response_id}",
        "rots": [f"rot {dialogue_id}.{response_id}"],
        "safety_label": "__casual__",
        "dialogue_id": dialogue_id,
        "response_id": response_id,
        "episode_done": done,
    }
    data.update(extra)
    return json.dumps(data)


def write_rows(tmp_path: Path, rows: list[str], name: str = "rows.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def by_id(contexts):
    return {c.external_id: c for c in contexts}


def test_history_is_rebuilt_from_interleaved_shuffled_rows():
    contexts = by_id(iter_contexts(TURNS))
    assert set(contexts) == {"0", "1", "2"}
    dialogue = contexts["0"]
    assert [t.speaker for t in dialogue.turns] == ["User", "Bot", "User", "Bot", "User"]
    assert [t.text for t in dialogue.turns] == [
        "I keep taking my roommate's bike without asking.",
        "Borrowing without asking can really hurt trust. Have you talked to them about it?",
        "They never use it anyway, so who cares?",
        "Even if they don't use it much, it's still theirs. Asking shows respect.",
        "Fine, I'll ask them before I borrow it next time.",
    ]
    assert dialogue.reference_response == (
        "That sounds like a fair plan, and your roommate will appreciate it."
    )
    meta = dialogue.metadata
    assert meta["safety_label"] == "__casual__"
    assert meta["rots"] == ["You should ask before using someone else's things."]
    assert meta["turn_safety_labels"] == ["__needs_caution__", "__needs_caution__", "__casual__"]
    assert meta["turn_rots"][1] == []  # null rots become an empty list
    assert meta["source"] == "madeup" and meta["etc"] == "fixture-0"
    assert meta["safety_annotations"] == ["casual", "casual", "needs caution"]
    assert meta["dialogue_id"] == 0 and meta["response_id"] == 2


def test_dialogues_are_emitted_as_soon_as_complete():
    # dialogue 2 completes on line 4, dialogue 1 on line 5, dialogue 0 on line 6
    assert [c.external_id for c in iter_contexts(TURNS)] == ["2", "1", "0"]


def test_per_turn_yields_every_response_prefix():
    contexts = by_id(iter_dataset("prosocial_dialog", TURNS, per_turn="yes"))
    assert sorted(contexts) == ["0:0", "0:1", "0:2", "1:0", "1:1", "2:0"]
    first = contexts["0:0"]
    assert [t.text for t in first.turns] == ["I keep taking my roommate's bike without asking."]
    assert first.reference_response.startswith("Borrowing without asking")
    assert first.metadata["safety_label"] == "__needs_caution__"
    assert first.metadata["turn_safety_labels"] == ["__needs_caution__"]
    middle = contexts["0:1"]
    assert len(middle.turns) == 3 and middle.turns[-1].speaker == "User"
    assert middle.metadata["rots"] == []


def test_json_array_of_dialogues_orders_turns_by_response_id():
    contexts = by_id(iter_contexts(DIALOGUES))
    assert list(contexts) == ["40", "41"]
    dialogue = contexts["40"]
    assert [t.text for t in dialogue.turns] == [
        "I pulled up my neighbour's tomatoes because they blocked my view.",
        "That could really upset your neighbour. Could you talk to them instead?",
        "Whatever, it's just a plant.",
    ]
    assert dialogue.reference_response.startswith("It may be just a plant to you")
    assert dialogue.metadata["turn_safety_labels"] == ["__needs_caution__", "__casual__"]
    single = contexts["41"]
    assert [t.speaker for t in single.turns] == ["User"]
    assert single.metadata["safety_label"] == "__needs_intervention__"


def test_original_release_layout_is_read_too():
    (context,) = iter_contexts(RELEASE)
    assert context.external_id == "0"
    assert [t.speaker for t in context.turns] == ["User", "Bot", "User"]
    assert context.turns[1].text.startswith("That puts a lot on your coworker.")
    assert context.reference_response == "That's a thoughtful way to make it up to her."


def test_json_array_streaming_is_independent_of_chunk_size():
    source = Source(DIALOGUES)
    whole = list(json_array_items(source))
    tiny = list(json_array_items(Source(DIALOGUES), chunk_chars=5))
    assert tiny == whole
    starts = [
        n for n, text in enumerate(DIALOGUES.read_text().splitlines(), 1) if text.startswith("  {")
    ]
    assert starts == [2, 29]
    assert [line for line, _ in whole] == starts
    assert [item["dialogue_id"] for _, item in whole] == [40, 41]


def test_broken_json_array_element_is_fatal_with_its_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text(
        '[\n  {"dialogue_id": 1, "turns": [{"context": "a", "response": "b"}]},\n'
        '  {"dialogue_id": 2,\n   "turns": [{"context": "a" "response": "b"}]}\n]\n'
    )
    with pytest.raises(ImportProblem, match=r"broken.json line 4: not valid JSON"):
        list(iter_contexts(path, skip_bad=True))


def test_unclosed_json_array_is_fatal(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[{"dialogue_id": 1, "turns": [{"context": "a", "response": "b"}]},\n')
    with pytest.raises(ImportProblem, match="not closed"):
        list(iter_contexts(path))


def test_incomplete_dialogue_is_reported_at_its_first_row(tmp_path):
    path = write_rows(tmp_path, [row(1, 0), row(1, 1, done=True), row(5, 2, done=True), row(5, 0)])
    with pytest.raises(ImportProblem) as info:
        list(iter_contexts(path))
    assert info.value.line == 3
    assert "dialogue 5 is incomplete: response_id 1 is missing" in info.value.reason
    assert [c.external_id for c in iter_contexts(path, skip_bad=True)] == ["1"]


def test_duplicate_and_late_rows_are_bad_rows(tmp_path):
    path = write_rows(
        tmp_path,
        [
            row(1, 0),
            row(1, 0),  # line 2: duplicate
            row(1, 1, done=True),  # completes dialogue 1
            row(1, 2),  # line 4: after the dialogue was complete
            row(2, 0, done=True),
        ],
    )
    problems = []
    contexts = list(iter_contexts(path, skip_bad=True, on_skip=problems.append))
    assert [c.external_id for c in contexts] == ["1", "2"]
    assert [p.line for p in problems] == [2, 4]
    assert "response_id 0 appears twice (also line 1)" in problems[0].reason
    assert "after the dialogue was complete" in problems[1].reason


def test_file_cut_short_still_yields_contiguous_dialogues(tmp_path):
    path = write_rows(tmp_path, [row(3, 1), row(3, 0)])  # no episode_done row at all
    (context,) = iter_contexts(path)
    assert [t.text for t in context.turns] == ["user says 3.0", "bot answers 3.0", "user says 3.1"]


def test_bad_rows_with_line_numbers(tmp_path):
    path = write_rows(
        tmp_path,
        [
            row(1, 0, done=True),
            '{"context": "x", "response": ',  # line 2: broken JSON
            row(2, "zero", done=True),  # line 3: bad response_id
            row(3, 0, done=True, rots="not a list"),  # line 4
            row(4, 0, done=True, context=""),  # line 5
        ],
    )
    with pytest.raises(ImportProblem, match="rows.jsonl line 2: not valid JSON"):
        list(iter_contexts(path))
    problems = []
    assert [c.external_id for c in iter_contexts(path, skip_bad=True, on_skip=problems.append)] == [
        "1"
    ]
    assert [p.line for p in problems] == [2, 3, 4, 5]


@pytest.mark.parametrize(
    ("fixture", "hint"),
    [
        ("rtp_prompts.jsonl", "use format 'real_toxicity_prompts'"),
        ("ed_sample.csv", "use format 'empathetic_dialogues'"),
    ],
)
def test_wrong_format_is_reported_at_line_1(fixture, hint):
    with pytest.raises(ImportProblem) as info:
        list(iter_contexts(FIXTURES / fixture, skip_bad=True))
    assert info.value.line == 1
    assert hint in str(info.value)


def test_wrong_json_array_is_reported(tmp_path):
    path = tmp_path / "numbers.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(ImportProblem, match="line 1: not ProsocialDialog data"):
        list(iter_contexts(path))


def test_empty_inputs(tmp_path):
    for name, text, detail in [
        ("e.jsonl", "", "the file is empty"),
        ("e.json", " [ ]\n", "the JSON array is empty"),
    ]:
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(ImportProblem, match=f"no contexts found in {name} .{detail}"):
            list(iter_contexts(path))


def test_repeated_dialogue_in_json_array_is_a_bad_row(tmp_path):
    dialogue = {"dialogue_id": 9, "turns": [{"context": "a", "response": "b"}]}
    path = tmp_path / "twice.json"
    path.write_text(
        json.dumps(
            [dialogue, {"dialogue_id": 8, "turns": [{"context": "c", "response": "d"}]}, dialogue],
            indent=None,
        ).replace("}, {", "},\n{")
    )
    with pytest.raises(ImportProblem, match="twice.json line 3: dialogue 9 appears twice"):
        list(iter_contexts(path))
