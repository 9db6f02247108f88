"""EmpatheticDialogues CSV importer (generation/importers/empathetic_dialogues.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from generation.importers import ImportProblem, iter_dataset, run_import
from generation.importers.empathetic_dialogues import HEADER, iter_contexts

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = FIXTURES / "ed_sample.csv"
BAD = FIXTURES / "ed_bad.csv"
HEADER_LINE = ",".join(HEADER)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def by_id(contexts):
    return {c.external_id: c for c in contexts}


def test_one_context_per_conversation_ending_with_a_speaker_turn():
    contexts = list(iter_contexts(SAMPLE))
    assert [c.external_id for c in contexts] == ["hit:0_conv:1", "hit:1_conv:2", "hit:2_conv:4"]
    for context in contexts:
        assert [t.speaker for t in context.turns] == ["Speaker", "Listener", "Speaker"]
        assert context.turns[-1].speaker == "Speaker"
    first = contexts[0]
    assert (
        first.turns[0].text
        == "I spent the afternoon in the attic and found my grandma's old letters."
    )
    assert first.reference_response == (
        "That sounds lovely. Keep them somewhere safe, they are a treasure."
    )
    assert first.metadata["emotion"] == "nostalgic"
    assert first.metadata["reference_utterance_idx"] == 4
    assert first.metadata["selfeval"] == "4|5|5_3|4|4"


def test_comma_escapes_are_undone_in_utterances_and_situation():
    contexts = by_id(iter_contexts(SAMPLE))
    first = contexts["hit:0_conv:1"]
    assert first.turns[1].text == "Oh wow, what a find. Did you read any of them?"
    assert first.metadata["situation"] == (
        "I found a box of letters from my grandmother in the attic, all tied with string."
    )
    for context in contexts.values():
        texts = [t.text for t in context.turns] + [
            context.reference_response,
            context.metadata["situation"],
        ]
        assert not any("_comma_" in text for text in texts)


def test_turns_follow_utterance_idx_not_file_order():
    # In the file the first row of hit:1_conv:2 is utterance 2, by the *listener*
    # (speaker_idx 22); a loader trusting file order gets the roles and order wrong.
    context = by_id(iter_contexts(SAMPLE))["hit:1_conv:2"]
    assert [(t.speaker, t.text) for t in context.turns] == [
        ("Speaker", "I have my driving test tomorrow and I can't sleep."),
        ("Listener", "That's nerve-racking! What part worries you the most?"),
        ("Speaker", "Mostly the parking. I always clip the cone."),
    ]
    # utterance 5 (a trailing speaker turn) is not part of the context
    assert context.reference_response.startswith("Practice it a couple of times")
    assert context.metadata["reference_utterance_idx"] == 4


def test_rows_with_candidate_fields_parse_like_the_others():
    # hit:2_conv:4 has rows with 9 and 10 fields (|-separated candidates after tags)
    context = by_id(iter_contexts(SAMPLE))["hit:2_conv:4"]
    assert [t.text for t in context.turns] == [
        "My neighbour cleared all the snow from my driveway this morning.",
        "That is so kind of them! Did you get to thank them?",
        "I baked them some muffins as a thank-you.",
    ]
    assert context.reference_response == (
        "Perfect. Little gestures like that make a street feel like a community."
    )
    assert context.metadata["emotion"] == "grateful"


def test_all_prefixes_yields_one_context_per_listener_turn():
    contexts = list(iter_contexts(SAMPLE, all_prefixes=True))
    assert [c.external_id for c in contexts] == [
        "hit:0_conv:1:2",
        "hit:0_conv:1:4",
        "hit:1_conv:2:2",
        "hit:1_conv:2:4",
        "hit:2_conv:4:2",
        "hit:2_conv:4:4",
    ]
    for context in contexts:
        assert context.turns[-1].speaker == "Speaker"
    prefixes = by_id(contexts)
    assert len(prefixes["hit:0_conv:1:2"].turns) == 1
    assert prefixes["hit:0_conv:1:2"].reference_response == (
        "Oh wow, what a find. Did you read any of them?"
    )
    # the last prefix is the default context
    default = by_id(iter_contexts(SAMPLE))["hit:0_conv:1"]
    assert prefixes["hit:0_conv:1:4"].turns == default.turns
    assert prefixes["hit:0_conv:1:4"].reference_response == default.reference_response


def test_all_prefixes_accepts_a_command_line_string():
    assert len(list(iter_dataset("empathetic_dialogues", SAMPLE, all_prefixes="true"))) == 6
    assert len(list(iter_dataset("empathetic_dialogues", SAMPLE, all_prefixes="false"))) == 3


def test_first_malformed_row_raises_with_its_line_number():
    with pytest.raises(ImportProblem) as info:
        list(iter_contexts(BAD))
    assert info.value.line == 4
    assert str(info.value) == (
        "ed_bad.csv line 4: expected 8 fields (or 9+ with candidate responses), found 5"
    )


def test_skip_bad_reports_every_problem_and_keeps_the_good_conversations():
    problems: list[ImportProblem] = []
    contexts = list(iter_contexts(BAD, skip_bad=True, on_skip=problems.append))
    assert [c.external_id for c in contexts] == ["hit:5_conv:10", "hit:8_conv:16"]
    assert [p.line for p in problems] == [4, 5, 6, 9, 11]
    reasons = [p.reason for p in problems]
    assert "utterance_idx (field 2)" in reasons[1] and "'x'" in reasons[1]
    assert "hit:7_conv:14 has no listener turn" in reasons[2]
    assert "hit:5_conv:10 appears again" in reasons[3]
    assert "utterance_idx 1 appears twice (also line 10)" in reasons[4]
    report = run_import("empathetic_dialogues", BAD, skip_bad=True)
    assert (report.contexts, report.skipped_total, len(report.skipped)) == (2, 5, 5)


def test_conversation_without_listener_is_an_error(tmp_path):
    path = write(tmp_path, "solo.csv", f"{HEADER_LINE}\nhit:1_conv:1,1,sad,x,7,Just me here.,,\n")
    with pytest.raises(ImportProblem, match="line 2: conversation hit:1_conv:1 has no listener"):
        list(iter_contexts(path))


def test_missing_utterance_is_reported(tmp_path):
    rows = "hit:1_conv:1,1,sad,x,7,One.,,\nhit:1_conv:1,3,sad,x,7,Three.,,\n"
    path = write(tmp_path, "gap.csv", f"{HEADER_LINE}\n{rows}")
    with pytest.raises(
        ImportProblem, match="line 2: conversation hit:1_conv:1: utterance_idx 2 is missing"
    ):
        list(iter_contexts(path))


@pytest.mark.parametrize(
    ("fixture", "hint"),
    [
        ("rtp_prompts.jsonl", "use format 'real_toxicity_prompts'"),
        ("prosocial_turns.jsonl", "use format 'prosocial_dialog'"),
        ("prosocial_dialogues.json", "it looks like a JSON array"),
        ("generic_contexts.csv", "use format 'csv' with a column mapping"),
    ],
)
def test_wrong_format_is_reported_at_line_1(fixture, hint):
    with pytest.raises(ImportProblem) as info:
        list(iter_contexts(FIXTURES / fixture, skip_bad=True))
    assert info.value.line == 1
    assert "not an EmpatheticDialogues CSV" in str(info.value)
    assert hint in str(info.value)


def test_empty_file_and_header_only_file_are_errors(tmp_path):
    for name, text, detail in [
        ("empty.csv", "", "the file is empty"),
        ("blank.csv", "\n\n", "the file is empty"),
        ("header.csv", HEADER_LINE + "\n", "the file has a header but no rows"),
    ]:
        path = write(tmp_path, name, text)
        with pytest.raises(ImportProblem) as info:
            list(iter_contexts(path))
        assert str(info.value) == f"{name}: no contexts found in {name} ({detail})"


def test_all_rows_skipped_is_still_an_error(tmp_path):
    path = write(tmp_path, "junk.csv", f"{HEADER_LINE}\na,b\nc,d\n")
    with pytest.raises(ImportProblem, match="no contexts found in junk.csv .all 2 problem"):
        list(iter_contexts(path, skip_bad=True))


def test_bom_crlf_and_gzip(tmp_path):
    text = SAMPLE.read_text(encoding="utf-8").replace("\n", "\r\n")
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    expected = list(iter_contexts(SAMPLE))
    assert list(iter_contexts(path)) == expected
    packed = tmp_path / "train.csv.gz"
    packed.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    assert list(iter_contexts(packed)) == expected


def test_undecodable_line_is_a_bad_row(tmp_path):
    good = "hit:1_conv:1,1,sad,x,7,Hello.,,\nhit:1_conv:1,2,sad,x,8,Hi.,,\n"
    path = tmp_path / "latin.csv"
    path.write_bytes(
        f"{HEADER_LINE}\n".encode() + b"hit:0_conv:0,1,sad,caf\xe9,7,Hi.,,\n" + good.encode()
    )
    with pytest.raises(ImportProblem, match="latin.csv line 2: not valid UTF-8"):
        list(iter_contexts(path))
    assert [c.external_id for c in iter_contexts(path, skip_bad=True)] == ["hit:1_conv:1"]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ImportProblem, match="nope.csv: file not found"):
        list(iter_contexts(tmp_path / "nope.csv"))
