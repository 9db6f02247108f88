"""Generic CSV / JSON Lines importers with a column mapping (generation/importers/generic.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generation.importers import ImportOptionError, ImportProblem, iter_dataset
from generation.importers.generic import iter_csv, iter_jsonl

FIXTURES = Path(__file__).parent / "fixtures"
CSV = FIXTURES / "generic_contexts.csv"
BAD = FIXTURES / "generic_bad.csv"
JSONL = FIXTURES / "generic_contexts.jsonl"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def texts(context):
    return [t.text for t in context.turns]


def test_json_list_column_with_strings_and_turn_objects():
    first, second = iter_csv(CSV, turns="history", id="id", reference="gold", metadata="emotion")
    assert first.external_id == "c1"
    assert [(t.speaker, t.text) for t in first.turns] == [
        ("A", "Hi there, how was the trip?"),
        ("B", "Long. The train broke down twice."),
    ]
    assert first.reference_response == "Oh no, that sounds exhausting."
    assert first.metadata == {"emotion": "tired"}
    assert [t.speaker for t in second.turns] == ["user", "bot", "user"]
    assert texts(second)[-1] == "Yes, twice."


def test_turn_separator_splits_a_multi_line_quoted_field():
    # the separator comes from a command line as the two characters backslash-n
    contexts = list(
        iter_dataset("csv", CSV, turns="lines", turn_separator="\\n", speaker_names="User,Bot")
    )
    assert [c.external_id for c in contexts] == ["1", "2"]  # default id: record number
    assert texts(contexts[1]) == [
        "I lost my keys again.",
        "Did you check your coat pocket?",
        "Yes, twice.",
    ]
    assert [t.speaker for t in contexts[1].turns] == ["User", "Bot", "User"]
    assert contexts[0].reference_response is None


def test_list_of_columns_one_turn_each_skipping_empty_cells():
    first, second = iter_csv(CSV, turns="utt1,utt2,utt3", id="id", reference="gold")
    assert texts(first) == ["Hi there, how was the trip?", "Long. The train broke down twice."]
    assert texts(second) == [
        "I lost my keys again.",
        "Did you check your coat pocket?",
        "Yes, twice.",
    ]


def test_eou_separator_and_speakers_column(tmp_path):
    path = write(
        tmp_path,
        "eou.csv",
        "dialog,who,answer\n"
        "Hello there __eou__ Hi! __eou__ How are you? __eou__,"
        '"[""ann"", ""bo"", ""ann""]",Fine thanks\n',
    )
    (context,) = iter_csv(
        path, turns="dialog", turn_separator="__eou__", speakers="who", reference="answer"
    )
    assert [(t.speaker, t.text) for t in context.turns] == [
        ("ann", "Hello there"),
        ("bo", "Hi!"),
        ("ann", "How are you?"),
    ]


def test_speaker_count_mismatch_is_a_bad_row(tmp_path):
    path = write(tmp_path, "s.csv", 'dialog,who\n"a|b","x,y,z"\n')
    with pytest.raises(ImportProblem, match="s.csv line 2: 3 speaker.s. in 'who' for 2 turn"):
        list(iter_csv(path, turns="dialog", turn_separator="|", speakers="who"))


def test_line_numbers_count_physical_lines_of_multi_line_fields():
    with pytest.raises(ImportProblem) as info:
        list(iter_csv(BAD, turns="text", reference="gold"))
    assert str(info.value) == "generic_bad.csv line 4: expected 3 fields, found 4"
    problems = []
    contexts = list(
        iter_csv(
            BAD, turns="text", reference="gold", id="id", skip_bad=True, on_skip=problems.append
        )
    )
    assert [c.external_id for c in contexts] == ["a", "d"]
    assert texts(contexts[0]) == ["first line\nsecond line"]
    assert [(p.line, p.reason) for p in problems] == [
        (4, "expected 3 fields, found 4"),
        (5, "expected 3 fields, found 2"),
    ]


def test_missing_mapped_column_names_it_and_the_available_ones():
    with pytest.raises(ImportProblem) as info:
        list(iter_csv(CSV, turns="dialogue", metadata="emotion,split", skip_bad=True))
    assert info.value.line == 1
    message = str(info.value)
    assert "'dialogue' (from turns=)" in message and "'split' (from metadata=)" in message
    assert "available columns: 'id', 'history', 'lines', 'utt1'" in message


def test_mapping_option_errors_are_raised_before_reading():
    with pytest.raises(ImportOptionError, match="needs turns="):
        iter_csv(CSV)
    with pytest.raises(ImportOptionError, match="delimiter= must be one character"):
        iter_csv(CSV, turns="history", delimiter=";;")
    with pytest.raises(ImportOptionError, match="turn_separator= must not be empty"):
        iter_jsonl(JSONL, turns="dialog", turn_separator="")


def test_unterminated_quote_is_reported_where_the_record_starts(tmp_path):
    path = write(tmp_path, "q.csv", 'text\nfine\n"never closed\nmore\n')
    with pytest.raises(
        ImportProblem, match="q.csv line 3: malformed CSV .a quoted field is never closed"
    ):
        list(iter_csv(path, turns="text"))


def test_tab_delimiter_and_duplicate_ids(tmp_path):
    path = write(tmp_path, "t.tsv", "id\ttext\nx\thello, world\nx\tagain\ny\tbye\n")
    problems = []
    contexts = list(
        iter_csv(
            path, turns="text", id="id", delimiter="\\t", skip_bad=True, on_skip=problems.append
        )
    )
    assert [(c.external_id, texts(c)) for c in contexts] == [
        ("x", ["hello, world"]),
        ("y", ["bye"]),
    ]
    assert [(p.line, p.reason) for p in problems] == [(3, "duplicate id 'x'")]


def test_json_lines_with_dotted_keys_and_turn_objects():
    first, second = iter_jsonl(
        JSONL, turns="dialog", id="meta.uid", reference="answer", metadata="meta.topic"
    )
    assert first.external_id == "g-1"
    assert [t.speaker for t in first.turns] == ["customer", "baker", "customer"]
    assert first.reference_response == "It is baked here every Tuesday and Friday."
    assert first.metadata == {"meta.topic": "cooking"}
    assert second.reference_response is None
    assert [t.speaker for t in second.turns] == ["A", "B", "A"]


def test_jsonl_mapping_checked_on_the_first_record(tmp_path):
    with pytest.raises(ImportProblem) as info:
        list(iter_jsonl(JSONL, turns="dialog", id="uid"))
    assert str(info.value) == (
        "generic_contexts.jsonl line 1: key 'uid' (from id=) not in the first record; "
        "its keys: 'meta', 'dialog', 'answer'"
    )
    path = write(
        tmp_path,
        "later.jsonl",
        json.dumps({"t": ["a"], "r": "b"}) + "\n" + json.dumps({"r": "c"}) + "\n",
    )
    with pytest.raises(
        ImportProblem, match="later.jsonl line 2: 't' .from turns=. is missing; available: 'r'"
    ):
        list(iter_jsonl(path, turns="t", reference="r"))


def test_jsonl_bad_turn_values(tmp_path):
    path = write(
        tmp_path,
        "bad.jsonl",
        "\n".join(
            [
                json.dumps({"t": ["ok"]}),
                json.dumps({"t": 42}),
                json.dumps({"t": [{"speaker": "a"}]}),
                json.dumps({"t": []}),
                json.dumps(["not", "an", "object"]),
                json.dumps({"t": "single turn"}),
            ]
        )
        + "\n",
    )
    problems = []
    contexts = list(iter_jsonl(path, turns="t", skip_bad=True, on_skip=problems.append))
    assert [texts(c) for c in contexts] == [["ok"], ["single turn"]]
    assert [p.line for p in problems] == [2, 3, 4, 5]
    assert "turn 1: a turn object needs a text field" in problems[1].reason


def test_a_json_array_is_read_by_the_jsonl_importer(tmp_path):
    path = write(tmp_path, "arr.json", json.dumps([{"t": ["a", "b"]}, {"t": ["c"]}], indent=2))
    assert [texts(c) for c in iter_jsonl(path, turns="t")] == [["a", "b"], ["c"]]


@pytest.mark.parametrize(
    ("importer", "fixture", "hint"),
    [
        (iter_csv, "rtp_prompts.jsonl", "not a CSV file with a header row"),
        (iter_jsonl, "generic_contexts.csv", "not JSON Lines"),
        (iter_jsonl, "ed_sample.csv", "use format 'empathetic_dialogues'"),
    ],
)
def test_wrong_format_is_reported_at_line_1(importer, fixture, hint):
    with pytest.raises(ImportProblem) as info:
        list(importer(FIXTURES / fixture, turns="text", skip_bad=True))
    assert info.value.line == 1
    assert hint in str(info.value)


def test_empty_and_header_only_files(tmp_path):
    for name, text, detail in [
        ("e.csv", "", "the file is empty"),
        ("h.csv", "text\n", "the file has a header but no rows"),
    ]:
        path = write(tmp_path, name, text)
        with pytest.raises(ImportProblem, match=f"no contexts found in {name} .{detail}"):
            list(iter_csv(path, turns="text"))
