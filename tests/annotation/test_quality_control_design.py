"""Quality control in the design: degraded copies, the spec section, controls kept out of k."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from annotation import design
from annotation.design import degraded
from annotation.spec.quality_control import QualityControlSpec


def _rating(seed: int, n_contexts: int = 12, batch_size: int = 6):
    ids = [f"c{i}" for i in range(n_contexts)]
    return design.design_rating_batches(
        ids, ["A", "B"], batch_size, 3, 3, "all_permutations", False, None, seed
    )


def _pairwise(seed: int):
    ids = [f"c{i}" for i in range(8)]
    return design.design_pairwise_batches(ids, [("A", "B")], 4, 3, False, seed)


@pytest.mark.parametrize("seed", range(25))
def test_copies_never_first_never_adjacent_and_k_kept(seed):
    rng = random.Random(seed)
    base = _rating(seed, batch_size=rng.choice([3, 6]))
    share = rng.choice([0.1, 0.25, 0.5])
    with_attention = design.insert_attention_checks(base, ["x", "y"], 1, seed)
    out = design.insert_degraded_copies(with_attention, share, degraded.DEGRADATIONS, seed)
    assert design.output_counts(out) == design.output_counts(base)  # every output: exactly k
    n = 0
    for batch in out.batches:
        assert [it.position for it in batch.items] == list(range(len(batch.items)))
        assert batch.items[0].degradation is None
        for it in batch.items:
            if it.degradation is None:
                continue
            n += 1
            orig = degraded.original_of(batch, it)
            assert it.position - orig.position >= 2  # later, never adjacent
        real = sum(not it.is_control for it in batch.items)
        assert sum(it.degradation is not None for it in batch.items) == (
            degraded.copies_per_batch(real, share)
        )
    assert n == out.report["degraded"]["n_items"] > 0
    again = design.insert_degraded_copies(with_attention, share, degraded.DEGRADATIONS, seed)
    assert again == out


def test_pairwise_copy_is_the_original_side_against_its_degraded_text():
    out = design.insert_degraded_copies(_pairwise(3), 0.5, ["shuffle_words"], 3)
    copies = [(b, it) for b in out.batches for it in b.items if it.degradation]
    assert copies
    for batch, it in copies:
        assert design.DEGRADED_SIDE in it.systems
        side = next(s for s in it.systems if s != design.DEGRADED_SIDE)
        assert side in degraded.original_of(batch, it).systems
    assert design.output_counts(out) == design.output_counts(_pairwise(3))


def test_degraded_texts_are_seeded_and_degraded():
    text = "I would love to hear more about your trip to the mountains last week"
    other = "The train was late again so I missed the start of the film"
    for kind in degraded.DEGRADATIONS:
        a = degraded.degrade_text(text, kind, other, "k1")
        assert a == degraded.degrade_text(text, kind, other, "k1")
        assert a != text
    shuffled = degraded.degrade_text(text, "shuffle_words", other, "k1")
    assert Counter(shuffled.split()) == Counter(text.split())
    span = degraded.degrade_text(text, "replace_span", other, "k1").split()
    assert len(span) == len(text.split()) and set(span) & set(other.split())
    assert degraded.degrade_text(text, "unrelated_response", other, "k1") == other


def test_design_errors_name_the_parameter():
    with pytest.raises(design.DesignError) as err:
        design.insert_degraded_copies(_rating(0), 0.1, ["blur"], 0)
    assert err.value.problems[0][0] == "kinds"


GOLD = {
    "id": "g1",
    "context": [{"speaker": "user", "text": "hi"}],
    "response": "hello",
    "expect": {"fluency": {"min": 50}},
}


def test_spec_section_parses_with_defaults_and_locates_errors():
    from pydantic import ValidationError

    qc = QualityControlSpec.model_validate(
        {"degraded": {}, "gold": {"items": [GOLD], "placement": "qualification"}}
    )
    assert qc.degraded.share == 0.1 and qc.degraded.test == "mann_whitney"
    assert qc.gold.pass_threshold == 0.75 and qc.gold.feedback is True
    with pytest.raises(ValidationError) as err:
        QualityControlSpec.model_validate({"degraded": {"share": 0.9, "kinds": ["blur"]}})
    where = {tuple(e["loc"]) for e in err.value.errors()}
    assert ("degraded", "share") in where
    assert any(loc[:2] == ("degraded", "kinds") for loc in where)
    with pytest.raises(ValidationError):
        QualityControlSpec.model_validate({"gold": {"items": [], "placement": "batch"}})
