"""Names at their columns' limits make a study (issue 9): keys joined from several names
(a candidate's source key, a pair's output key) are shortened to fit their columns, stay
distinct, and creation raises no DataError (PostgreSQL enforces the lengths; the test runs
on both databases and checks the lengths itself too)."""

from __future__ import annotations

import pytest

from annotation.models import Item
from annotation.spec import load_spec
from annotation.study_builder import OUTPUT_KEY_CHARS, SOURCE_KEY_CHARS, build_study_from_spec
from core import limits
from generation.models import Candidate
from tests.annotation.test_spec import pairwise_spec, write_jsonl

pytestmark = pytest.mark.django_db


def test_fit_key_keeps_short_keys_and_hashes_long_ones_distinctly():
    assert limits.fit_key("c1|a~b", 400) == "c1|a~b"
    one, two = limits.fit_key("x" * 500 + "1", 400), limits.fit_key("x" * 500 + "2", 400)
    assert len(one) == len(two) == 400 and one != two
    assert limits.fit_key("x" * 500 + "1", 400) == one  # stable


def test_a_pairwise_study_with_every_name_at_its_limit_is_created(tmp_path):
    cid_chars = limits.CONTEXT_ID.max_length
    system_chars = limits.SYSTEM_NAME.max_length
    ids = [f"{i}".rjust(cid_chars, "c") for i in range(6)]
    systems = [s * system_chars for s in ("a", "b")]
    write_jsonl(
        tmp_path / "data" / "contexts.jsonl",
        [{"id": cid, "turns": [{"speaker": "Speaker", "text": f"t {cid[-1]}"}]} for cid in ids],
    )
    for name in systems:
        write_jsonl(
            tmp_path / "data" / f"{name[0]}.jsonl",
            [{"context_id": cid, "response": f"{name[0]} reply {cid[-1]}"} for cid in ids],
        )
    spec = pairwise_spec()
    spec["name"] = "n" * limits.SPEC_STUDY_NAME
    spec["systems"] = [
        {"name": name, "kind": "imported", "responses": f"data/{name[0]}.jsonl"} for name in systems
    ]
    built = build_study_from_spec(load_spec(spec, base_dir=tmp_path))
    keys = list(Item.objects.filter(study=built.study).values_list("output_key", flat=True))
    assert len(set(keys)) == 6  # one output per context (each pair shown in both orders)
    assert max(map(len, keys)) <= OUTPUT_KEY_CHARS
    sources = list(Candidate.objects.values_list("source_key", flat=True))
    assert len(sources) == len(set(sources)) == 12
    assert max(map(len, sources)) <= SOURCE_KEY_CHARS
