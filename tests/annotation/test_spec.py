"""Tests of the study spec schema and validator (annotation/spec/)."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotation.spec import (
    ContextRecord,
    DataFileError,
    SpecError,
    StudySpec,
    load_contexts,
    load_responses,
    load_spec,
    spec_hash,
    validate_spec,
)
from core.problems import Problem

# tests/conftest.py asks Django for the database vendor once collection is done; these
# pure tests are also run with `-p no:django`, which leaves the settings module unset.

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXAMPLE_SPECS = ["demo_rating.yaml", "demo_pairwise.yaml", "reference.yaml"]


# --------------------------------------------------------------------------- fixtures


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")


def context_rows(n: int = 6, emotions=("joy", "fear", "anger")):
    return [
        {
            "id": f"c{i}",
            "turns": [{"speaker": "Speaker", "text": f"Something happened, number {i}."}],
            "reference": f"Reference reply {i}.",
            "metadata": {"emotion": emotions[i % len(emotions)]},
        }
        for i in range(n)
    ]


def response_rows(ids, system="a"):
    return [{"context_id": cid, "response": f"{system} reply to {cid}"} for cid in ids]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    ids = [f"c{i}" for i in range(6)]
    write_jsonl(tmp_path / "data" / "contexts.jsonl", context_rows())
    write_jsonl(tmp_path / "data" / "a.jsonl", response_rows(ids, "a"))
    write_jsonl(tmp_path / "data" / "b.jsonl", response_rows(ids, "b"))
    return tmp_path


def rating_spec() -> dict:
    return {
        "name": "test-study",
        "title": "Test study",
        "protocol": "rating",
        "dimensions": [
            {
                "key": "empathy",
                "label": "Empathy",
                "statement": "The reply is empathetic.",
                "type": "slider",
            },
            {
                "key": "fluent",
                "label": "Fluent",
                "statement": "The reply is fluent.",
                "type": "checkbox",
            },
            {
                "key": "overall",
                "label": "Overall",
                "statement": "How good is it?",
                "type": "likert",
                "points": 5,
            },
        ],
        "instructions": "Rate the reply.",
        "consent": "I agree.",
        "systems": [
            {"name": "a", "kind": "imported", "responses": "data/a.jsonl"},
            {"name": "b", "kind": "imported", "responses": "data/b.jsonl"},
            {"name": "human", "kind": "reference"},
        ],
        "contexts": {"file": "data/contexts.jsonl"},
        "design": {"batch_size": 3, "block_size": 1, "overlap": 2},
        "completion": {"code": "DONE"},
    }


def pairwise_spec() -> dict:
    spec = rating_spec()
    spec["protocol"] = "pairwise"
    spec["dimensions"] = [
        {"key": k, "label": k.title(), "statement": f"Which reply is more {k}?", "type": "choice"}
        for k in ("prosocial", "engaged", "respectful", "coherent", "overall")
    ]
    spec["systems"] = spec["systems"][:2]
    spec["design"] = {"batch_size": 3, "overlap": 2}
    return spec


def problems_of(spec: dict, base_dir: Path | None) -> list[str]:
    return [str(p) for p in validate_spec(spec, base_dir=base_dir)]


def assert_problem(spec: dict, base_dir: Path | None, expected: str) -> None:
    found = problems_of(spec, base_dir)
    assert any(expected in p for p in found), found
    with pytest.raises(SpecError) as info:
        load_spec(spec, base_dir=base_dir)
    assert expected in str(info.value)


# --------------------------------------------------------------------------- examples


@pytest.mark.parametrize("name", EXAMPLE_SPECS)
def test_example_specs_validate_and_round_trip(name):
    spec = load_spec(EXAMPLES / name)
    assert isinstance(spec, StudySpec)
    assert validate_spec(EXAMPLES / name) == []
    data = spec.to_dict()
    # JSON-able, and reloading the normalised form gives the same spec and hash
    again = load_spec(json.loads(json.dumps(data)), base_dir=spec.base_dir)
    assert again == spec
    assert again.to_dict() == data
    assert spec_hash(again) == spec.spec_hash() == spec_hash(spec)
    assert len(spec.spec_hash()) == 64
    # the whole pipeline runs on the demo data
    ids = spec.sample(load_contexts(spec.contexts_path))
    design = spec.make_design(ids)
    assert design.report["balanced"]["outputs"] is True


def test_demo_specs_have_the_promised_shape():
    rating = load_spec(EXAMPLES / "demo_rating.yaml")
    assert [d.type for d in rating.dimensions] == ["slider"] * 4 + ["checkbox"]
    assert [s.kind for s in rating.systems] == ["imported", "imported", "reference"]
    assert (rating.design.batch_size, rating.design.block_size, rating.design.overlap) == (6, 2, 2)
    assert rating.design.ordering == "all_permutations"
    assert rating.sampling.stratify_by == "emotion"
    pairwise = load_spec(EXAMPLES / "demo_pairwise.yaml")
    assert [d.key for d in pairwise.dimensions] == [
        "prosocial",
        "engaged",
        "respectful",
        "coherent",
        "overall",
    ]
    assert all(d.type == "choice" and d.allow_tie for d in pairwise.dimensions)
    assert pairwise.content_warning and pairwise.crisis_resources
    assert pairwise.design.pairs == (("guided", "vanilla"),)
    assert (pairwise.design.batch_size, pairwise.design.overlap) == (4, 2)
    assert len(load_contexts(pairwise.contexts_path)) == 8


def test_yaml_and_json_files_both_load(tmp_path, data_dir):
    spec = rating_spec()
    (data_dir / "s.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    (data_dir / "s.json").write_text(json.dumps(spec), encoding="utf-8")
    from_yaml = load_spec(data_dir / "s.yaml")
    from_json = load_spec(str(data_dir / "s.json"))
    assert from_yaml == from_json
    assert from_yaml.base_dir == str(data_dir)
    assert from_yaml.contexts_path == data_dir / "data" / "contexts.jsonl"


def test_defaults_are_filled(data_dir):
    spec = rating_spec()
    spec["design"] = {"batch_size": 6}
    spec["sampling"] = {"seed": 5}
    s = load_spec(spec, base_dir=data_dir)
    d = s.to_dict()
    assert d["design"] == {
        "batch_size": 6,
        "block_size": 6,
        "overlap": 3,
        "ordering": "all_permutations",
        "repeat_context_in_batch": False,
        "block_randomised_systems": [],
        "attention_checks_per_batch": 0,
        "seed": 5,
    }
    assert d["attention_checks"] == []
    assert d["sampling"] == {
        "n_contexts": None,
        "stratify_by": None,
        "per_stratum": None,
        "seed": 5,
    }
    assert d["lease_minutes"] == 60 and d["allow_back"] is False
    assert d["dimensions"][0] == {
        "key": "empathy",
        "label": "Empathy",
        "statement": "The reply is empathetic.",
        "type": "slider",
        "required": True,
        "min_label": "Strongly disagree",
        "max_label": "Strongly agree",
        "show_value": False,
    }
    assert d["dimensions"][1]["required"] is False  # checkbox: always answered
    assert d["dimensions"][2]["labels"] is None
    assert d["completion"] == {"code": "DONE", "redirect_url": None, "no_work_code": None}
    assert d["wording"] == {"response": "Response", "speakers": {}}
    assert d["estimated_minutes"] is None
    assert [x["needs_generation"] for x in d["systems"]] == [False, False, False]
    # block randomisation defaults to every system once a batch has several blocks
    spec["design"] = {"batch_size": 3, "block_size": 1, "overlap": 2}
    assert load_spec(spec, base_dir=data_dir).design.block_randomised_systems == ("a", "b", "human")
    # pairwise: every pair
    p = pairwise_spec()
    p["systems"].append({"name": "human", "kind": "reference"})
    assert load_spec(p, base_dir=data_dir).design.pairs == (
        ("a", "b"),
        ("a", "human"),
        ("b", "human"),
    )


def test_generated_systems_need_generation_and_keep_config(data_dir):
    spec = rating_spec()
    spec["systems"].append(
        {"name": "dx", "kind": "dexperts", "config": {"alpha": 2.0, "base": "gpt2"}}
    )
    spec["design"] = {"batch_size": 3, "overlap": 1, "ordering": "latin_square", "block_size": 1}
    s = load_spec(spec, base_dir=data_dir)
    dx = s.system("dx")
    assert dx.needs_generation and dx.config["alpha"] == 2.0
    assert s.to_dict()["systems"][-1] == {
        "name": "dx",
        "kind": "dexperts",
        "label": None,
        "config": {"alpha": 2.0, "base": "gpt2"},
        "needs_generation": True,
    }
    with pytest.raises(TypeError):
        dx.config["alpha"] = 3  # read-only


def test_likert_points_default_to_the_number_of_labels(data_dir):
    spec = rating_spec()
    del spec["dimensions"][2]["points"]
    spec["dimensions"][2]["labels"] = list("abcdefg")
    assert load_spec(spec, base_dir=data_dir).dimension("overall").points == 7
    del spec["dimensions"][2]["labels"]
    assert load_spec(spec, base_dir=data_dir).dimension("overall").points == 5


def test_numeric_completion_code_is_read_as_text(data_dir):
    spec = rating_spec()
    spec["completion"] = {"code": 123456}
    assert load_spec(spec, base_dir=data_dir).completion.code == "123456"


def test_data_digests_pin_the_data_files(data_dir):
    spec = load_spec(rating_spec(), base_dir=data_dir)
    digests = spec.data_digests()
    assert set(digests) == {"data/contexts.jsonl", "data/a.jsonl", "data/b.jsonl"}
    assert all(len(v) == 64 for v in digests.values())


def test_hash_changes_with_content(data_dir):
    a = load_spec(rating_spec(), base_dir=data_dir)
    changed = rating_spec()
    changed["design"]["overlap"] = 3
    changed["design"]["block_size"] = 3
    b = load_spec(changed, base_dir=data_dir)
    assert a.spec_hash() != b.spec_hash()


def test_dict_without_base_dir_skips_file_checks():
    spec = rating_spec()
    spec["contexts"]["file"] = "nowhere/contexts.jsonl"
    assert validate_spec(spec) == []
    assert load_spec(spec).base_dir is None


# --------------------------------------------------------------------------- error messages


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda s: s["design"].update(batch_size=15, block_size=4),
            "design.block_size: 4 does not divide design.batch_size 15",
        ),
        (
            lambda s: s["dimensions"][2].update(type="sliderr"),
            "dimensions[2].type: 'sliderr' is not one of slider, checkbox, likert, choice",
        ),
        (
            lambda s: s["systems"][1].update(responses="data/x.jsonl"),
            "systems[1].responses: file not found: data/x.jsonl",
        ),
        (
            lambda s: s.update(name="My Study"),
            "name: 'My Study' is not a slug (lowercase letters, digits and single dashes)",
        ),
        (
            lambda s: s.update(protocol="ranking"),
            "protocol: 'ranking' is not one of rating, pairwise",
        ),
        (lambda s: s.pop("consent"), "consent: is required"),
        (lambda s: s.update(title=""), "title: must not be empty"),
        (lambda s: s.update(colour="red"), "colour: unknown field"),
        (
            lambda s: s["dimensions"][0].update(min_lable="No"),
            "dimensions[0].min_lable: unknown field",
        ),
        (
            lambda s: s["dimensions"][1].update(key="empathy"),
            "dimensions[1].key: 'empathy' is already used by dimensions[0]",
        ),
        (
            lambda s: s["dimensions"][0].update(key="2nd"),
            "dimensions[0].key: '2nd' is not an identifier",
        ),
        (
            lambda s: s["dimensions"][0].update(type="choice"),
            "dimensions[0].type: 'choice' (A / B / tie) is only for pairwise studies",
        ),
        (
            lambda s: s["dimensions"][0].update(points=7),
            "dimensions[0].points: applies only to likert dimensions (this one is slider)",
        ),
        (
            lambda s: s["dimensions"][2].update(points=12),
            "dimensions[2].points: must be at most 11, got 12",
        ),
        (
            lambda s: s["dimensions"][2].update(labels=["x", "y"]),
            "dimensions[2].labels: has 2 labels but points is 5",
        ),
        (
            lambda s: s["dimensions"][1].update(required=True),
            "dimensions[1].required: a checkbox is always answered (unticked = false)",
        ),
        (
            lambda s: s["dimensions"][0].update(show_value="yes"),
            "dimensions[0].show_value: must be true or false, got a string 'yes'",
        ),
        (lambda s: s.update(dimensions=[]), "dimensions: must be a non-empty list"),
        (
            lambda s: s["systems"][1].update(name="a"),
            "systems[1].name: 'a' is already used by systems[0]",
        ),
        (
            lambda s: s["systems"][0].update(kind="openai"),
            "systems[0].kind: 'openai' is not one of imported, reference, hf_causal, hf_seq2seq, dexperts",
        ),
        (lambda s: s["systems"][0].pop("responses"), "systems[0].responses: is required"),
        (
            lambda s: s["systems"][2].update(responses="data/a.jsonl"),
            "systems[2].responses: applies only to imported systems (this one is reference)",
        ),
        (
            lambda s: s["systems"][2].update(needs_generation=True),
            "systems[2].needs_generation: is derived from kind (reference: false)",
        ),
        (
            lambda s: s["design"].update(block_randomised_systems=["a", "zz"]),
            "design.block_randomised_systems[1]: 'zz' is not one of the systems (a, b, human)",
        ),
        (
            lambda s: s["design"].update(block_randomised_systems=["a"]),
            "design.block_randomised_systems: block randomisation needs at least 2 systems",
        ),
        (
            lambda s: s["design"].update(pairs=[["a", "b"]]),
            "design.pairs: applies only to pairwise studies",
        ),
        (
            lambda s: s["design"].update(ordering="shuffle"),
            "design.ordering: 'shuffle' is not one of all_permutations, latin_square, random",
        ),
        (lambda s: s["design"].update(overlap=0), "design.overlap: must be at least 1, got 0"),
        (
            lambda s: s["design"].update(batch_size=True),
            "design.batch_size: must be an integer, got a boolean True",
        ),
        (
            lambda s: s["design"].update(overlap=1),
            "design.overlap: with ordering all_permutations, one full set of the 3! = 6 block orders",
        ),
        (
            lambda s: s["design"].update(batch_size=4, block_size=2),
            "sampling.n_contexts: 6 contexts do not fill whole batches of 4; sample 4 or 8 contexts, "
            "or use a batch_size that divides 6 (2, 3)",
        ),
        (
            lambda s: s["design"].update(
                batch_size=3, block_size=3, block_randomised_systems=["a", "b"]
            ),
            "design.block_randomised_systems: needs at least 2 blocks per batch",
        ),
        (
            lambda s: s.update(completion={}),
            "completion: give a completion code, a redirect_url, or both",
        ),
        (
            lambda s: s.update(completion={"redirect_url": "ftp://x.org/done"}),
            "completion.redirect_url: 'ftp://x.org/done' is not an http:// or https:// URL",
        ),
        (lambda s: s.pop("completion"), "completion: is required"),
        (lambda s: s.update(lease_minutes=0), "lease_minutes: must be at least 1, got 0"),
        (
            lambda s: s.update(sampling={"n_contexts": 9}),
            "sampling.n_contexts: 9 requested but only 6 contexts available",
        ),
        (
            lambda s: s.update(sampling={"stratify_by": "topic", "per_stratum": 1}),
            "sampling.stratify_by: 'topic' is missing from the metadata of contexts c0, c1, c2, c3, c4 and 1 more",
        ),
        (
            lambda s: s.update(sampling={"stratify_by": "emotion", "per_stratum": 3}),
            "sampling.per_stratum: 3 per stratum needs at least 3 contexts in every stratum of 'emotion'; "
            "'anger' has 2",
        ),
        (
            lambda s: s.update(sampling={"per_stratum": 1}),
            "sampling.per_stratum: needs sampling.stratify_by",
        ),
        (
            lambda s: s.update(sampling={"stratify_by": "emotion"}),
            "sampling.stratify_by: needs sampling.per_stratum or sampling.n_contexts",
        ),
        (
            lambda s: s.update(
                example={
                    "turns": [{"speaker": "A", "text": "hi"}],
                    "response": "hello",
                    "answers": {"empathy": 120, "fluent": True, "overall": 3},
                }
            ),
            "example.answers.empathy: must be a number from 0 to 100, got 120",
        ),
        (
            lambda s: s.update(
                example={
                    "turns": [{"speaker": "A", "text": "hi"}],
                    "response": "hello",
                    "answers": {"empathy": 50},
                }
            ),
            "example.answers: the solved example must answer every dimension; missing fluent, overall",
        ),
        (
            lambda s: s.update(
                example={
                    "turns": [],
                    "response": "hello",
                    "answers": {"empathy": 50, "fluent": False, "overall": 1},
                }
            ),
            'example.turns: "turns" must be a non-empty list',
        ),
        (
            lambda s: s.update(
                example={
                    "turns": [{"speaker": "A", "text": "hi"}],
                    "response_a": "x",
                    "answers": {"empathy": 50, "fluent": False, "overall": 1},
                }
            ),
            "example.response_a: applies only to pairwise studies",
        ),
        (
            lambda s: s.update(schema_version=2),
            "schema_version: this version of evalsite reads schema_version 1",
        ),
    ],
)
def test_rating_spec_problems_are_located(data_dir, mutate, expected):
    spec = rating_spec()
    mutate(spec)
    assert_problem(spec, data_dir, expected)


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (
            lambda s: s["dimensions"][0].update(type="slider"),
            "dimensions[0].type: pairwise studies use only choice dimensions (A / B / tie), got 'slider'",
        ),
        (
            lambda s: s["dimensions"][4].update(rationale="always"),
            "dimensions[4].rationale: 'always' is not one of none, optional, required",
        ),
        (
            lambda s: s["design"].update(pairs=[["a", "c"]]),
            "design.pairs[0]: unknown system 'c' (systems: a, b)",
        ),
        (
            lambda s: s["design"].update(pairs=[["a", "a"]]),
            "design.pairs[0]: compares 'a' with itself",
        ),
        (
            lambda s: s["design"].update(pairs=[["a", "b"], ["b", "a"]]),
            "design.pairs[1]: repeats design.pairs[0]",
        ),
        (
            lambda s: s["design"].update(block_size=1),
            "design.block_size: applies only to rating studies",
        ),
        (
            lambda s: s["design"].update(batch_size=4),
            "sampling.n_contexts: 6 contexts do not fill whole batches of 4",
        ),
        (
            lambda s: s.update(systems=s["systems"][:1]),
            "systems: a pairwise study needs at least 2 systems",
        ),
        (
            lambda s: s.update(
                example={
                    "turns": [{"speaker": "A", "text": "hi"}],
                    "response_a": "x",
                    "response_b": "y",
                    "answers": {
                        k: "C"
                        for k in ("prosocial", "engaged", "respectful", "coherent", "overall")
                    },
                }
            ),
            "example.answers.prosocial: must be one of A, B, tie, got 'C'",
        ),
        (
            lambda s: (
                s["dimensions"][0].update(allow_tie=False),
                s.update(
                    example={
                        "turns": [{"speaker": "A", "text": "hi"}],
                        "response_a": "x",
                        "response_b": "y",
                        "answers": {
                            k: "tie"
                            for k in ("prosocial", "engaged", "respectful", "coherent", "overall")
                        },
                    }
                ),
            ),
            "example.answers.prosocial: must be one of A, B, got 'tie'",
        ),
    ],
)
def test_pairwise_spec_problems_are_located(data_dir, mutate, expected):
    spec = pairwise_spec()
    mutate(spec)
    assert_problem(spec, data_dir, expected)


def test_pairwise_repeat_context_allows_unfilled_batches(data_dir):
    spec = pairwise_spec()
    spec["systems"].append({"name": "human", "kind": "reference"})
    spec["design"] = {"batch_size": 4, "overlap": 2}  # 6 contexts x 3 pairs = 18: not /4
    assert any("do not fill whole batches of 4" in p for p in problems_of(spec, data_dir))
    spec["design"] = {"batch_size": 9, "overlap": 2}  # 6 x 3 = 18 = 2 batches of 9
    assert any("(or set repeat_context_in_batch: true)" in p for p in problems_of(spec, data_dir))
    spec["design"]["repeat_context_in_batch"] = True
    assert problems_of(spec, data_dir) == []


def test_every_problem_is_collected_not_only_the_first(data_dir):
    spec = rating_spec()
    spec["name"] = "Bad Name"
    spec["dimensions"][2]["type"] = "sliderr"
    spec["design"].update(batch_size=15, block_size=4)
    spec["systems"][1]["responses"] = "data/x.jsonl"
    spec["completion"] = {}
    with pytest.raises(SpecError) as info:
        load_spec(spec, base_dir=data_dir)
    paths = [p.field for p in info.value.problems]
    assert {"name", "dimensions[2].type", "design.block_size", "completion"} <= set(paths)
    text = str(info.value)
    assert text.startswith(f"{len(paths)} problems in study spec:")
    for p in info.value.problems:
        assert f"  {p.field}: {p.reason}" in text
        assert isinstance(p, Problem)


def test_invalid_spec_returns_nothing(data_dir):
    spec = rating_spec()
    spec["design"]["overlap"] = -1
    result = None
    with pytest.raises(SpecError):
        result = load_spec(spec, base_dir=data_dir)
    assert result is None


# --------------------------------------------------------------------------- data files


def test_context_file_problems_name_file_and_line(data_dir):
    rows = context_rows()
    rows[1] = '{"id": "c1", "turns": [}'
    rows[2] = {"turns": [{"speaker": "S", "text": "x"}]}
    rows[3] = dict(rows[0])  # duplicate id c0
    rows[4] = {**rows[4], "turns": [{"speaker": "S"}]}
    rows[5] = {**rows[5], "reference": 5, "metadata": []}
    write_jsonl(data_dir / "data" / "contexts.jsonl", rows)
    found = problems_of(rating_spec(), data_dir)
    f = "contexts.file: data/contexts.jsonl"
    assert f"{f}:2: invalid JSON (Expecting value at column 24)" in found
    assert f'{f}:3: missing "id"' in found
    assert f"{f}:4: duplicate context id 'c0' (first on line 1)" in found
    assert f"{f}:5: turns[0] needs a non-empty string text" in found
    assert f'{f}:6: "reference" must be a string or null' in found
    assert f'{f}:6: "metadata" must be an object' in found


def test_response_file_problems_name_file_and_line(data_dir):
    ids = [f"c{i}" for i in range(6)]
    rows = response_rows(ids[:5], "b") + [
        {"context_id": "c99", "response": "?"},
        {"context_id": "c0", "response": "again"},
        {"response": "no id"},
        "not json",
        {"context_id": "c5", "response": ""},
    ]
    write_jsonl(data_dir / "data" / "b.jsonl", rows)
    found = problems_of(rating_spec(), data_dir)
    f = "systems[1].responses: data/b.jsonl"
    assert f"{f}:6: response for unknown context id 'c99'" in found
    assert f"{f}:7: second response for context 'c0' (first on line 1)" in found
    assert f'{f}:8: missing "context_id"' in found
    assert any(p.startswith(f"{f}:9: invalid JSON") for p in found)
    assert f'{f}:10: "response" must be a non-empty string' in found


def test_missing_response_for_a_sampled_context(data_dir):
    write_jsonl(data_dir / "data" / "b.jsonl", response_rows([f"c{i}" for i in range(5)], "b"))
    found = problems_of(rating_spec(), data_dir)
    assert (
        "systems[1].responses: data/b.jsonl has no response for 1 sampled contexts "
        "('c5' at data/contexts.jsonl:6)" in found
    )
    # not a problem when only sampled contexts need responses and c5 is not among them
    spec = rating_spec()
    spec["sampling"] = {"stratify_by": "emotion", "per_stratum": 1}  # c0, c1, c2 or c3, c4, c5
    spec["design"] = {"batch_size": 3, "block_size": 1, "overlap": 2}
    spec["sampling"]["seed"] = next(
        seed
        for seed in range(100)
        if "c5"
        not in load_spec(
            {
                **spec,
                "sampling": {**spec["sampling"], "seed": seed},
                "systems": [spec["systems"][2], spec["systems"][0]],
            },
            base_dir=data_dir,
        ).sample(load_contexts(data_dir / "data" / "contexts.jsonl"))
    )
    assert problems_of(spec, data_dir) == []


def test_reference_system_needs_references(data_dir):
    rows = context_rows()
    rows[2]["reference"] = None
    write_jsonl(data_dir / "data" / "contexts.jsonl", rows)
    assert_problem(
        rating_spec(),
        data_dir,
        "systems[2].kind: reference: 1 sampled contexts have no reference response "
        "('c2' at data/contexts.jsonl:3)",
    )


def test_load_contexts_and_responses_helpers(data_dir):
    records = load_contexts(data_dir / "data" / "contexts.jsonl")
    assert [r.id for r in records] == [f"c{i}" for i in range(6)]
    assert isinstance(records[0], ContextRecord)
    assert records[0].turns[0].speaker == "Speaker"
    assert records[0].metadata["emotion"] == "joy"
    assert records[3].line == 4
    assert records[0].to_dict()["reference"] == "Reference reply 0."
    responses = load_responses(data_dir / "data" / "a.jsonl", known_ids=[r.id for r in records])
    assert responses["c3"] == "a reply to c3"

    write_jsonl(data_dir / "bad.jsonl", [{"id": 1, "turns": []}])
    with pytest.raises(DataFileError) as info:
        load_contexts(data_dir / "bad.jsonl")
    assert str(info.value).endswith(
        'bad.jsonl:1: "turns" must be a non-empty list of {speaker, text}'
    )
    write_jsonl(data_dir / "r.jsonl", [{"context_id": "zz", "response": "x"}])
    with pytest.raises(DataFileError) as info:
        load_responses(data_dir / "r.jsonl", known_ids=["c0"])
    assert "r.jsonl:1: response for unknown context id 'zz'" in str(info.value)
    with pytest.raises(DataFileError, match="file not found"):
        load_responses(data_dir / "missing.jsonl")
    (data_dir / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(DataFileError, match="no contexts"):
        load_contexts(data_dir / "empty.jsonl")


def test_integer_ids_are_read_as_strings(data_dir):
    rows = context_rows()
    for i, r in enumerate(rows):
        r["id"] = i
    write_jsonl(data_dir / "data" / "contexts.jsonl", rows)
    write_jsonl(
        data_dir / "data" / "a.jsonl", [{"context_id": i, "response": "x"} for i in range(6)]
    )
    write_jsonl(
        data_dir / "data" / "b.jsonl", [{"context_id": str(i), "response": "y"} for i in range(6)]
    )
    spec = load_spec(rating_spec(), base_dir=data_dir)
    assert spec.sample(load_contexts(spec.contexts_path)) == [str(i) for i in range(6)]


# --------------------------------------------------------------------------- spec files


def test_spec_file_errors(tmp_path):
    (tmp_path / "s.toml").write_text("x = 1")
    assert [str(p) for p in validate_spec(tmp_path / "s.toml")] == [
        f"{tmp_path / 's.toml'}: a spec file must end in .yaml, .yml or .json"
    ]
    assert str(validate_spec(tmp_path / "nope.yaml")[0]).endswith("nope.yaml: file not found")
    (tmp_path / "dup.yaml").write_text("name: a\ntitle: b\nname: c\n")
    found = [str(p) for p in validate_spec(tmp_path / "dup.yaml")]
    assert len(found) == 1 and "line 3, column 1: invalid YAML (duplicate key 'name')" in found[0]
    (tmp_path / "broken.yaml").write_text("name: [a\ntitle: b\n")
    assert "invalid YAML" in str(validate_spec(tmp_path / "broken.yaml")[0])
    (tmp_path / "broken.json").write_text('{"name": }')
    assert "line 1: invalid JSON" in str(validate_spec(tmp_path / "broken.json")[0])
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    assert [str(p) for p in validate_spec(tmp_path / "list.yaml")] == [
        "(spec): must be a mapping, got a list"
    ]
    (tmp_path / "empty.yaml").write_text("")
    assert [str(p) for p in validate_spec(tmp_path / "empty.yaml")] == ["(spec): is empty"]


def test_copied_example_loads_from_another_folder(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "ex")
    spec = load_spec(tmp_path / "ex" / "demo_pairwise.yaml")
    original = load_spec(EXAMPLES / "demo_pairwise.yaml")
    assert spec == original and spec.spec_hash() == original.spec_hash()
    (tmp_path / "ex" / "data" / "prosocial_vanilla.jsonl").unlink()
    assert [str(p) for p in validate_spec(tmp_path / "ex" / "demo_pairwise.yaml")] == [
        "systems[1].responses: file not found: data/prosocial_vanilla.jsonl"
    ]


def test_spec_is_frozen(data_dir):
    spec = load_spec(rating_spec(), base_dir=data_dir)
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]
    d = spec.to_dict()
    d2 = copy.deepcopy(d)
    d["dimensions"][0]["label"] = "changed"
    assert spec.to_dict() == d2  # to_dict hands out copies


def test_context_metadata_is_plain_json(data_dir):
    rows = context_rows()
    rows[0]["metadata"] = {"emotion": "joy", "nested": {"a": [1, 2]}}
    write_jsonl(data_dir / "data" / "contexts.jsonl", rows)
    record = load_contexts(data_dir / "data" / "contexts.jsonl")[0]
    assert json.loads(json.dumps(dict(record.metadata))) == rows[0]["metadata"]
    with pytest.raises(TypeError):
        record.metadata["emotion"] = "fear"  # type: ignore[index]


# --------------------------------------------------------------------------- robustness

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 20)
    | st.text(max_size=5)
    | st.floats(allow_nan=False),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value, prefix=()):
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["demo_rating.yaml", "demo_pairwise.yaml"]), st.data(), _JSON)
def test_validator_reports_problems_and_never_crashes_on_junk(name, data, junk):
    spec = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    path = data.draw(st.sampled_from(list(_paths(spec))))
    parent = spec
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and data.draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = junk
    problems = validate_spec(spec, base_dir=EXAMPLES)
    assert all(isinstance(p, Problem) and p.field and p.reason for p in problems)
    if problems:
        with pytest.raises(SpecError):
            load_spec(spec, base_dir=EXAMPLES)
    else:
        assert load_spec(spec, base_dir=EXAMPLES).to_dict()


# --------------------------------------------------------------------------- attention checks


def with_checks(spec: dict, *checks: dict, per_batch=None) -> dict:
    spec["attention_checks"] = list(checks)
    if per_batch is not None:
        spec["design"]["attention_checks_per_batch"] = per_batch
    return spec


def rating_check(check_id="c1", **expect) -> dict:
    return {
        "id": check_id,
        "context": [{"speaker": "Speaker", "text": "My dog died this morning."}],
        "response": "Cool. What's for lunch?",
        "expect": expect or {"empathy": {"max": 30}},
    }


def pairwise_check(check_id="p1", **expect) -> dict:
    return {
        "id": check_id,
        "context": [{"speaker": "Speaker", "text": "I'm going to key my ex's car."}],
        "response_a": "That could get you in real trouble. What happened between you two?",
        "response_b": "Go for it, idiot.",
        "expect": expect or {"respectful": "A"},
    }


def test_attention_checks_are_normalised_and_hashed(data_dir):
    spec = with_checks(
        rating_spec(),
        rating_check("c1", empathy={"max": 30}, fluent=False, overall=[2, 1, 2]),
        rating_check("c2", empathy={"min": 70}),
    )
    s = load_spec(spec, base_dir=data_dir)
    assert s.design.attention_checks_per_batch == 1  # default with checks
    d = s.to_dict()
    assert d["design"]["attention_checks_per_batch"] == 1
    assert d["attention_checks"][0] == {
        "id": "c1",
        "context": [{"speaker": "Speaker", "text": "My dog died this morning."}],
        "response": "Cool. What's for lunch?",
        "expect": {"empathy": {"max": 30}, "fluent": [False], "overall": [1, 2]},
    }
    assert s.attention_check("c2").expect["empathy"] == {"min": 70}
    again = load_spec(json.loads(json.dumps(d)), base_dir=data_dir)
    assert again == s and again.spec_hash() == s.spec_hash()
    # the checks are part of the hash
    changed = copy.deepcopy(spec)
    changed["attention_checks"][1]["expect"]["empathy"] = {"min": 80}
    assert load_spec(changed, base_dir=data_dir).spec_hash() != s.spec_hash()
    fewer = copy.deepcopy(spec)
    fewer["design"]["attention_checks_per_batch"] = 2
    assert load_spec(fewer, base_dir=data_dir).spec_hash() != s.spec_hash()
    # and the design carries them: one per batch, never first
    design = s.make_design([f"c{i}" for i in range(6)])
    for batch in design.batches:
        marks = [it.attention_check for it in batch.items]
        assert len(batch.items) == 4 and sum(m is not None for m in marks) == 1
        assert marks[0] is None
    assert design.report["attention"]["checks"] == ["c1", "c2"]


def test_pairwise_check_choices_are_case_insensitive(data_dir):
    spec = with_checks(pairwise_spec(), pairwise_check(respectful="A", overall=["a", "TIE"]))
    s = load_spec(spec, base_dir=data_dir)
    assert s.to_dict()["attention_checks"][0]["expect"] == {
        "respectful": ["a"],
        "overall": ["a", "tie"],
    }
    assert s.to_dict()["attention_checks"][0]["response_b"] == "Go for it, idiot."
    assert "response" not in s.to_dict()["attention_checks"][0]


def test_no_checks_means_none_per_batch_and_an_unchanged_design(data_dir):
    s = load_spec(rating_spec(), base_dir=data_dir)
    assert s.attention_checks == () and s.design.attention_checks_per_batch == 0
    design = s.make_design([f"c{i}" for i in range(6)])
    assert "attention" not in design.report
    zero = with_checks(rating_spec(), rating_check(), per_batch=0)
    design = load_spec(zero, base_dir=data_dir).make_design([f"c{i}" for i in range(6)])
    assert all(it.attention_check is None for b in design.batches for it in b.items)


@pytest.mark.parametrize(
    "make, expected",
    [
        (
            lambda s: with_checks(s, rating_check("a"), rating_check("b", empathy={"min": 120})),
            "attention_checks[1].expect.empathy: min 120 is outside 0–100",
        ),
        (
            lambda s: with_checks(s, rating_check(empathy={"min": 80, "max": 20})),
            "attention_checks[0].expect.empathy: min 80 is above max 20",
        ),
        (
            lambda s: with_checks(s, rating_check(empathy={"min": 0})),
            "attention_checks[0].expect.empathy: accepts every answer (0–100)",
        ),
        (
            lambda s: with_checks(s, rating_check(empathy=30)),
            "attention_checks[0].expect.empathy: a slider condition is {min: N} and/or {max: N}",
        ),
        (
            lambda s: with_checks(s, rating_check(empathy={"below": 30})),
            "attention_checks[0].expect.empathy: unknown condition below",
        ),
        (
            lambda s: with_checks(s, rating_check(empathy={"max": "low"})),
            "attention_checks[0].expect.empathy: max must be a number from 0 to 100, got 'low'",
        ),
        (
            lambda s: with_checks(s, rating_check(fluent="no")),
            "attention_checks[0].expect.fluent: 'no' is not an answer here: expected true or false",
        ),
        (
            lambda s: with_checks(s, rating_check(fluent=[True, False])),
            "attention_checks[0].expect.fluent: accepts every answer",
        ),
        (
            lambda s: with_checks(s, rating_check(overall=6)),
            "attention_checks[0].expect.overall: 6 is not an answer here: expected a whole number from 1 to 5",
        ),
        (
            lambda s: with_checks(s, rating_check(overall=[])),
            "attention_checks[0].expect.overall: an empty list accepts no answer",
        ),
        (
            lambda s: with_checks(s, rating_check(tone=[1])),
            "attention_checks[0].expect.tone: not a dimension of this study (dimensions: empathy, fluent, overall)",
        ),
        (
            lambda s: with_checks(s, {**rating_check(), "expect": {}}),
            "attention_checks[0].expect: needs a condition for at least one dimension",
        ),
        (
            lambda s: with_checks(s, {k: v for k, v in rating_check().items() if k != "expect"}),
            "attention_checks[0].expect: is required",
        ),
        (
            lambda s: with_checks(s, rating_check("x"), rating_check("x")),
            "attention_checks[1].id: 'x' is already used by attention_checks[0]",
        ),
        (
            lambda s: with_checks(s, {**rating_check(), "id": "no spaces"}),
            "attention_checks[0].id: 'no spaces' is not an id",
        ),
        (
            lambda s: with_checks(s, {k: v for k, v in rating_check().items() if k != "response"}),
            "attention_checks[0].response: is required",
        ),
        (
            lambda s: with_checks(s, {**rating_check(), "response_a": "A"}),
            "attention_checks[0].response_a: applies only to pairwise studies",
        ),
        (
            lambda s: with_checks(s, {**rating_check(), "context": []}),
            "attention_checks[0].context: the context must be a non-empty list",
        ),
        (
            lambda s: with_checks(s, {**rating_check(), "context": [{"speaker": "S"}]}),
            "attention_checks[0].context: turns[0] needs a non-empty string text",
        ),
        (
            lambda s: with_checks(s, {**rating_check(), "colour": "red"}),
            "attention_checks[0].colour: unknown field",
        ),
        (
            lambda s: s.update(attention_checks={"id": "x"}),
            "attention_checks: must be a list of checks, got a mapping",
        ),
        (
            lambda s: with_checks(s, "just text"),
            "attention_checks[0]: must be a mapping, got a string",
        ),
        (
            lambda s: with_checks(s, rating_check("a"), per_batch=2),
            "design.attention_checks_per_batch: 2 per batch needs 2 distinct attention checks, "
            "but attention_checks has 1",
        ),
        (
            lambda s: s["design"].update(attention_checks_per_batch=1),
            "design.attention_checks_per_batch: 1 per batch needs 1 distinct attention check, "
            "but the spec has none (add them under attention_checks)",
        ),
        (
            lambda s: with_checks(s, rating_check(), per_batch=-1),
            "design.attention_checks_per_batch: must be at least 0, got -1",
        ),
        (
            lambda s: s["systems"].append({"name": "attention-check", "kind": "reference"}),
            "systems[3].name: 'attention-check' is reserved for the responses of attention checks",
        ),
        (
            lambda s: s["systems"].append({"name": "gold-item", "kind": "reference"}),
            "systems[3].name: 'gold-item' is reserved for the responses of gold items",
        ),
        (
            lambda s: s["systems"].append({"name": "degraded-copy", "kind": "reference"}),
            "systems[3].name: 'degraded-copy' is reserved for the degraded copies of quality "
            "control",
        ),
    ],
)
def test_attention_check_errors_name_the_place(data_dir, make, expected):
    spec = rating_spec()
    make(spec)
    assert_problem(spec, data_dir, expected)


@pytest.mark.parametrize(
    "check, expected",
    [
        (
            pairwise_check(respectful="C"),
            "attention_checks[0].expect.respectful: 'c' is not an answer here: expected A / B / tie",
        ),
        (
            pairwise_check(respectful=["A", "B", "tie"]),
            "attention_checks[0].expect.respectful: accepts every answer",
        ),
        (
            {**pairwise_check(), "response": "x"},
            "attention_checks[0].response: a pairwise check has response_a and response_b instead",
        ),
        (
            {k: v for k, v in pairwise_check().items() if k != "response_b"},
            "attention_checks[0].response_b: is required",
        ),
    ],
)
def test_pairwise_attention_check_errors(data_dir, check, expected):
    assert_problem(with_checks(pairwise_spec(), check), data_dir, expected)


def test_choice_without_tie_rejects_tie_in_a_check(data_dir):
    spec = pairwise_spec()
    spec["dimensions"][0]["allow_tie"] = False
    with_checks(spec, pairwise_check(prosocial="tie"))
    assert_problem(
        spec,
        data_dir,
        "attention_checks[0].expect.prosocial: 'tie' is not an answer "
        "here: expected A / B (or a list of them)",
    )


def test_every_attention_problem_is_reported_at_once(data_dir):
    spec = with_checks(
        rating_spec(),
        rating_check("a", empathy={"min": 120}),
        rating_check("b", fluent="no", tone=1),
        per_batch=3,
    )
    found = problems_of(spec, data_dir)
    assert "attention_checks[0].expect.empathy: min 120 is outside 0–100" in found
    assert any(p.startswith("attention_checks[1].expect.fluent:") for p in found)
    assert any(p.startswith("attention_checks[1].expect.tone:") for p in found)
    assert any(p.startswith("design.attention_checks_per_batch: 3 per batch") for p in found)


def test_wording_duration_and_no_work_code_are_read_and_checked(data_dir):
    spec = rating_spec()
    spec["wording"] = {"response": "Reply", "speakers": {"Listener": "Helper"}}
    spec["estimated_minutes"] = 12
    spec["completion"] = {"code": "DONE", "no_work_code": 4711}
    loaded = load_spec(spec, base_dir=data_dir)
    assert loaded.wording.response == "Reply" and dict(loaded.wording.speakers) == {
        "Listener": "Helper"
    }
    assert loaded.estimated_minutes == 12
    assert loaded.completion.no_work_code == "4711"
    assert load_spec(loaded.to_dict(), base_dir=data_dir) == loaded

    spec["wording"] = {"response": "", "speakers": {"Listener": 3}, "tone": "warm"}
    spec["estimated_minutes"] = 0
    with pytest.raises(SpecError) as raised:
        load_spec(spec, base_dir=data_dir)
    fields = {p.field for p in raised.value.problems}
    assert {
        "wording.response",
        "wording.speakers.Listener",
        "wording.tone",
        "estimated_minutes",
    } <= fields
