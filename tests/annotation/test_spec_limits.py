"""Bounded spec inputs (issue 9): a spec that would validate and then break (or stall) the
creation of its study is refused by validation, at its field or its line.

- YAML anchors and aliases (a billion-laughs expansion, also inside ``systems[].config``),
  deep nesting and oversized files are refused fast, with the line and column;
- names, titles, system names, check ids and context ids longer than their database columns,
  and study texts over ``STUDY_TEXT_CHARS``, are refused at their field;
- overlap has an upper bound, and so has the number of annotator slots a design makes;
- NUL characters, lone surrogates and bytes that are not UTF-8 are refused, located;
- numbers are strict (a boolean, a string or a float is no integer).
"""

from __future__ import annotations

import concurrent.futures
import copy
import json
from pathlib import Path

import pytest
import yaml

from annotation.spec import load_spec, validate_spec
from annotation.spec.schema import spec_json_schema
from core import limits
from tests.annotation.test_spec import (
    context_rows,
    pairwise_spec,
    problems_of,
    rating_spec,
    write_jsonl,
)

HANG_BOUND_S = 10  # a bound on a hang, not a measure of speed


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    ids = [f"c{i}" for i in range(6)]
    write_jsonl(tmp_path / "data" / "contexts.jsonl", context_rows())
    for system in ("a", "b"):
        rows = [{"context_id": cid, "response": f"{system} reply to {cid}"} for cid in ids]
        write_jsonl(tmp_path / "data" / f"{system}.jsonl", rows)
    return tmp_path


def validated_within_bound(path: Path) -> list[str]:
    """validate_spec(path), failing the test if it does not return within HANG_BOUND_S."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(validate_spec, path)
    try:
        return [str(p) for p in future.result(timeout=HANG_BOUND_S)]
    except concurrent.futures.TimeoutError:
        pytest.fail(f"validate_spec({path.name}) still running after {HANG_BOUND_S} s")
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def spec_yaml(data_dir: Path, name: str, spec: dict, *, extra: str = "") -> Path:
    path = data_dir / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False) + extra, encoding="utf-8")
    return path


BILLION_LAUGHS = """\
laughs:
  a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
  b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
  c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
  d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
  e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
  f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
  g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
  h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
  i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


# --------------------------------------------------------------------------- YAML


def test_a_billion_laughs_inside_a_system_config_is_refused_at_its_first_anchor(data_dir):
    spec = rating_spec()
    spec["systems"] = [{"name": "gen", "kind": "hf_causal", "config": {"path": "m"}}]
    text = yaml.safe_dump(spec, sort_keys=False).replace(
        "    path: m\n",
        "    path: m\n" + "".join(f"    {line}\n" for line in BILLION_LAUGHS.splitlines()),
    )
    path = data_dir / "laughs.yaml"
    path.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "&a" in row)
    assert validated_within_bound(path) == [
        f"{path}: line {line}, column 10: invalid YAML "
        "(anchors (&a) are not allowed: write each value out)"
    ]


def test_a_billion_laughs_at_the_top_level_is_refused_fast(data_dir):
    path = data_dir / "laughs.yaml"
    path.write_text(yaml.safe_dump(rating_spec()) + BILLION_LAUGHS, encoding="utf-8")
    (problem,) = validated_within_bound(path)
    assert "anchors (&a) are not allowed" in problem and "line " in problem


def test_an_alias_without_its_anchor_and_a_merge_key_are_refused(data_dir):
    path = spec_yaml(data_dir, "alias.yaml", rating_spec(), extra="description: *nowhere\n")
    (problem,) = validated_within_bound(path)
    assert "aliases (*nowhere) are not allowed" in problem
    base = yaml.safe_dump(rating_spec(), sort_keys=False)
    merged = base.replace("design:\n", "defaults: &d {overlap: 2}\ndesign:\n  <<: *d\n")
    (data_dir / "merge.yaml").write_text(merged, encoding="utf-8")
    (problem,) = validated_within_bound(data_dir / "merge.yaml")
    assert "anchors (&d) are not allowed" in problem


def test_deep_nesting_is_refused_with_its_line_not_a_recursion_error(data_dir):
    spec = rating_spec()
    spec["systems"] = [{"name": "gen", "kind": "hf_causal", "config": {"path": "m"}}]
    deep = "[" * 100_000 + "]" * 100_000
    text = yaml.safe_dump(spec, sort_keys=False).replace(
        "    path: m\n", f"    path: m\n    x: {deep}\n"
    )
    (data_dir / "deep.yaml").write_text(text, encoding="utf-8")
    (problem,) = validated_within_bound(data_dir / "deep.yaml")
    assert f"nested more than {limits.SPEC_DEPTH} levels deep" in problem
    assert "line " in problem and "column " in problem

    (data_dir / "deep.json").write_text(
        json.dumps(spec)[:-1] + f', "description": {deep}}}', encoding="utf-8"
    )
    (problem,) = validated_within_bound(data_dir / "deep.json")
    assert "nested" in problem


def test_nesting_in_an_already_parsed_spec_is_bounded_too(data_dir):
    spec = rating_spec()
    config: dict = {"path": "m"}
    spec["systems"] = [{"name": "gen", "kind": "hf_causal", "config": config}]
    for _ in range(limits.SPEC_DEPTH):
        config["x"] = config = {}
    (problem,) = problems_of(spec, None)
    assert problem.startswith("(spec): nested ") and f"at most {limits.SPEC_DEPTH}" in problem


def test_a_spec_file_over_the_size_bound_is_refused_without_being_read_whole(data_dir):
    spec = rating_spec()
    spec["instructions"] = "x" * limits.SPEC_FILE_BYTES
    path = spec_yaml(data_dir, "big.yaml", spec)
    (problem,) = validated_within_bound(path)
    assert problem == (
        f"{path}: is larger than {limits.SPEC_FILE_BYTES:,} bytes, the most a spec file may be "
        "(long texts belong in the spec, data in its data files)"
    )


# --------------------------------------------------------------------------- characters


def test_nul_and_lone_surrogates_in_a_spec_are_refused_at_their_field(data_dir):
    spec = rating_spec()
    spec["title"] = "Test\x00study"
    spec["systems"][0]["label"] = "A \ud800 label"
    spec["completion"]["code"] = "DONE"
    assert problems_of(spec, data_dir) == [
        "title: contains a NUL character (U+0000) at character 5",
        "systems[0].label: contains a lone surrogate (U+D800) at character 3",
    ]


def test_escapes_that_make_nul_or_a_surrogate_are_refused_in_yaml_and_json(data_dir):
    base = yaml.safe_dump(rating_spec(), sort_keys=False)
    (data_dir / "nul.yaml").write_text(
        base.replace("instructions: Rate the reply.", 'instructions: "Rate\\0 the reply."'),
        encoding="utf-8",
    )
    assert [str(p) for p in validate_spec(data_dir / "nul.yaml")] == [
        "instructions: contains a NUL character (U+0000) at character 5"
    ]
    text = json.dumps(rating_spec()).replace('"Rate the reply."', '"Rate \\ud800 the reply."')
    (data_dir / "surrogate.json").write_text(text, encoding="utf-8")
    assert [str(p) for p in validate_spec(data_dir / "surrogate.json")] == [
        "instructions: contains a lone surrogate (U+D800) at character 6"
    ]


def test_a_raw_nul_and_bytes_that_are_not_utf8_are_located_by_line(data_dir):
    base = yaml.safe_dump(rating_spec(), sort_keys=False).encode()
    line = base.split(b"\n").index(b"instructions: Rate the reply.") + 1
    (data_dir / "raw.yaml").write_bytes(base.replace(b"Rate the", b"Rate\x00the"))
    assert [str(p) for p in validate_spec(data_dir / "raw.yaml")] == [
        f"{data_dir / 'raw.yaml'}: line {line}, column 19: invalid YAML "
        "(the character U+0000 is not allowed in YAML)"
    ]
    (data_dir / "latin1.yaml").write_bytes(base.replace(b"Rate the", "Raté the".encode("latin-1")))
    assert [str(p) for p in validate_spec(data_dir / "latin1.yaml")] == [
        f"{data_dir / 'latin1.yaml'}: line {line}: not UTF-8 text"
    ]


def test_nul_and_surrogates_in_data_files_are_refused_at_their_line(data_dir):
    rows = context_rows()
    rows[2]["turns"][0]["text"] = "Bad\x00text"
    write_jsonl(data_dir / "data" / "contexts.jsonl", rows)
    (data_dir / "data" / "a.jsonl").write_text(
        "\n".join(json.dumps({"context_id": f"c{i}", "response": "ok"}) for i in range(5)).replace(
            '"ok"}', '"\\ud83d"}', 1
        )
        + "\n",
        encoding="utf-8",
    )
    found = problems_of(rating_spec(), data_dir)
    assert found[0] == (
        "contexts.file: data/contexts.jsonl:3: turns[0].text contains a NUL character (U+0000) "
        "at character 4"
    )
    assert (
        "systems[0].responses: data/a.jsonl:1: response contains a lone surrogate (U+D83D) "
        "at character 1"
    ) in found


# --------------------------------------------------------------------------- lengths


def test_names_and_texts_longer_than_their_columns_are_refused_at_their_field(data_dir):
    spec = rating_spec()
    spec["name"] = "n" * (limits.SPEC_STUDY_NAME + 1)
    spec["title"] = "T" * 301
    spec["systems"][0]["name"] = "s" * 121
    spec["instructions"] = "i" * (limits.STUDY_TEXT_CHARS + 1)
    found = problems_of(spec, data_dir)
    assert found == [
        "name: must be at most 110 characters, got 111 (the study's datasets are named after "
        "it, '<name>-attention')",
        "title: must be at most 300 characters, got 301 (the longest title the database holds)",
        "instructions: must be at most 100,000 characters, got 100,001 (the pages annotators "
        "see carry it)",
        "systems[0].name: must be at most 120 characters, got 121 (the longest system name the "
        "database holds)",
    ]


def test_the_longest_allowed_names_pass(data_dir):
    spec = rating_spec()
    spec["name"] = "n" * limits.SPEC_STUDY_NAME
    spec["title"] = "T" * limits.STUDY_TITLE.max_length
    spec["instructions"] = "i" * limits.STUDY_TEXT_CHARS
    assert problems_of(spec, data_dir) == []


def test_an_attention_check_id_and_a_context_id_longer_than_their_columns(data_dir):
    spec = rating_spec()
    spec["attention_checks"] = [
        {
            "id": "a" * (limits.ATTENTION_CHECK_ID.max_length + 1),
            "context": [{"speaker": "S", "text": "Hi."}],
            "response": "Hello.",
            "expect": {"fluent": True},
        }
    ]
    assert problems_of(spec, None) == [
        "attention_checks[0].id: must be at most 120 characters, got 121 (the longest check id "
        "the database holds)"
    ]
    rows = context_rows()
    rows[1]["id"] = "c" * 201
    write_jsonl(data_dir / "data" / "contexts.jsonl", rows)
    assert problems_of(rating_spec(), data_dir)[0] == (
        'contexts.file: data/contexts.jsonl:2: "id" is 201 characters long; at most 200 (the '
        "longest id the database holds)"
    )


def test_the_schema_carries_the_limits():
    schema = spec_json_schema()
    props, defs = schema["properties"], schema["$defs"]
    assert props["name"]["maxLength"] == limits.SPEC_STUDY_NAME
    assert props["title"]["maxLength"] == limits.STUDY_TITLE.max_length
    assert props["instructions"]["maxLength"] == limits.STUDY_TEXT_CHARS
    assert defs["ImportedSystem"]["properties"]["name"]["maxLength"] == 120
    assert defs["DesignSpec"]["properties"]["overlap"]["maximum"] == limits.MAX_OVERLAP


def test_data_file_lines_and_sizes_are_bounded(data_dir, monkeypatch):
    monkeypatch.setattr(limits, "DATA_LINE_CHARS", 1000)
    rows = context_rows()
    rows[3]["reference"] = "r" * 2000
    write_jsonl(data_dir / "data" / "contexts.jsonl", rows)
    assert problems_of(rating_spec(), data_dir) == [
        "contexts.file: data/contexts.jsonl:4: the line is longer than 1,000 characters"
    ]
    monkeypatch.setattr(limits, "DATA_FILE_BYTES", 500)
    write_jsonl(data_dir / "data" / "contexts.jsonl", context_rows())
    found = problems_of(rating_spec(), data_dir)
    assert found[0].startswith("contexts.file: data/contexts.jsonl:")
    assert found[0].endswith("the file is larger than 500 bytes")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_as_a_data_file_fails_at_its_first_line(data_dir, monkeypatch):
    monkeypatch.setattr(limits, "DATA_LINE_CHARS", 1 << 16)
    spec = rating_spec()
    spec["contexts"]["file"] = "/dev/zero"
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        found = pool.submit(problems_of, spec, data_dir).result(timeout=HANG_BOUND_S)
    finally:
        pool.shutdown(wait=False)
    assert found == ["contexts.file: /dev/zero:1: the line is longer than 65,536 characters"]


# --------------------------------------------------------------------------- the design


def test_overlap_has_an_upper_bound_that_says_why(data_dir):
    spec = rating_spec()
    spec["design"]["overlap"] = 10**7
    assert problems_of(spec, data_dir) == [
        f"design.overlap: must be at most {limits.MAX_OVERLAP}, got 10000000 (annotators "
        "judging each output; a crowd study uses 3 to 10)"
    ]


def test_a_design_with_more_slots_than_the_bound_is_refused_before_anything_is_made(
    data_dir, monkeypatch
):
    monkeypatch.setattr(limits, "MAX_SLOTS", 50)
    spec = rating_spec()  # 6 contexts x 3 systems = 18 outputs, batches of 3
    spec["design"]["overlap"] = 9  # 18 x 9 / 3 = 54 slots
    assert problems_of(spec, data_dir) == [
        "design.overlap: 9 would make 54 annotator slots (18 outputs x overlap 9 / batch_size "
        "3); a study has at most 50 (each is a row created with the study and a batch to "
        "fill): lower the overlap or sample fewer contexts"
    ]
    spec["design"]["overlap"] = 8  # 48 slots
    assert problems_of(spec, data_dir) == []
    pairwise = pairwise_spec()  # 6 contexts x 1 pair, batches of 3
    pairwise["design"]["overlap"] = 26  # 6 x 26 / 3 = 52
    assert problems_of(pairwise, data_dir)[0].startswith("design.overlap: 26 would make 52 ")


def test_the_slot_bound_uses_sampling_when_there_are_no_files():
    spec = rating_spec()
    spec["sampling"] = {"n_contexts": 300_000}
    spec["design"] = {"batch_size": 3, "block_size": 1, "overlap": 3}
    (problem,) = problems_of(spec, None)
    assert problem.startswith("design.overlap: 3 would make 900,000 annotator slots")


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("value", "got"),
    [
        (True, "a boolean True"),
        ("3", "a string '3'"),
        (3.0, "a number 3.0"),
        (1e400, "a number inf"),
    ],
)
def test_numbers_are_strict(value, got):
    spec = copy.deepcopy(rating_spec())
    spec["design"]["overlap"] = value
    assert problems_of(spec, None) == [f"design.overlap: must be an integer, got {got}"]


def test_fullwidth_digits_in_yaml_are_a_string_not_a_number(data_dir):
    text = yaml.safe_dump(rating_spec(), sort_keys=False).replace("overlap: 2", "overlap: ２")
    (data_dir / "wide.yaml").write_text(text, encoding="utf-8")
    assert [str(p) for p in validate_spec(data_dir / "wide.yaml")] == [
        "design.overlap: must be an integer, got a string '２'"
    ]


def test_a_valid_spec_still_loads(data_dir):
    spec = load_spec(rating_spec(), base_dir=data_dir)
    assert spec.design.overlap == 2
