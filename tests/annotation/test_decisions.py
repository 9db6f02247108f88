"""annotation.decisions: the per-annotator decision, its degraded-control test checked
against scipy directly, and simulated annotators (a careful one passes, a random clicker
fails)."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest
from scipy import stats

from analysis.stats.normalize import per_annotator_zscores
from annotation.decisions import (
    Evidence,
    Rules,
    decide,
    degraded_tests,
    per_annotator_z,
    signed_rank_method,
)


def test_z_matches_the_analysis_convention() -> None:
    values = [1.0, 3.0, 4.0, 4.0, 5.0, 2.0]
    frame = pd.DataFrame({"annotator": ["a"] * len(values), "value": values})
    expected = per_annotator_zscores(frame, "annotator", "value")["value_z"].tolist()
    assert per_annotator_z(values) == pytest.approx(expected)
    assert all(math.isnan(z) for z in per_annotator_z([3.0, 3.0, 3.0]))
    assert all(math.isnan(z) for z in per_annotator_z([3.0]))


def test_every_variant_matches_scipy() -> None:
    pairs = [(5.0, 2.0), (4.0, 4.0), (3.0, 1.0), (5.0, 3.0), (2.0, 3.0), (4.0, 1.0)]
    scores = [5.0, 4.0, 3.0, 5.0, 2.0, 4.0, 2.0, 4.0, 1.0, 3.0, 3.0, 1.0, 4.0, 5.0]
    tests = {(t.test, t.scores): t for t in degraded_tests(pairs, scores, alpha=0.05)}
    assert set(tests) == {
        ("mann_whitney", "raw"),
        ("mann_whitney", "z"),
        ("signed_rank", "raw"),
        ("signed_rank", "z"),
    }
    orig = [o for o, _ in pairs]
    degr = [d for _, d in pairs]
    mw = stats.mannwhitneyu(orig, degr, alternative="greater")
    assert tests["mann_whitney", "raw"].statistic == pytest.approx(mw.statistic)
    assert tests["mann_whitney", "raw"].p_value == pytest.approx(mw.pvalue)
    method = signed_rank_method(orig, degr)
    assert method == ("approx" if len({abs(o - d) for o, d in pairs}) < len(pairs) else "exact")
    sr = stats.wilcoxon(orig, degr, alternative="greater", method=method)
    assert tests["signed_rank", "raw"].p_value == pytest.approx(sr.pvalue)
    mean = sum(scores) / len(scores)
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    z_o = [(v - mean) / sd for v in orig]
    z_d = [(v - mean) / sd for v in degr]
    mw_z = stats.mannwhitneyu(z_o, z_d, alternative="greater")
    assert tests["mann_whitney", "z"].p_value == pytest.approx(mw_z.pvalue)
    assert tests["signed_rank", "z"].p_value == pytest.approx(
        stats.wilcoxon(z_o, z_d, alternative="greater", method=method).pvalue
    )
    assert tests["signed_rank", "z"].p_value == pytest.approx(tests["signed_rank", "raw"].p_value)
    # one-sided: degraded scored higher is never significant
    reversed_ = degraded_tests([(d, o) for o, d in pairs], scores)
    assert all(not t.significant for t in reversed_)


def test_signed_rank_is_exact_without_ties_and_approximate_with_them() -> None:
    distinct = [(9.0, 1.0), (8.0, 1.5), (7.0, 2.75), (6.0, 3.0), (5.0, 3.5), (4.0, 3.25)]
    assert signed_rank_method(*zip(*distinct, strict=True)) == "exact"
    exact = {t.scores: t for t in degraded_tests(distinct) if t.test == "signed_rank"}
    # all six differences positive: the exact one-sided p is 1 / 2**6
    assert exact["raw"].p_value == pytest.approx(1 / 64)
    assert exact["z"].p_value == pytest.approx(1 / 64)
    tied = [(5.0, 3.0), (4.0, 2.0), (5.0, 5.0), (3.0, 1.0), (4.0, 3.0)]
    assert signed_rank_method(*zip(*tied, strict=True)) == "approx"
    approx = {t.scores: t for t in degraded_tests(tied) if t.test == "signed_rank"}
    reference = stats.wilcoxon(
        [o for o, _ in tied], [d for _, d in tied], alternative="greater", method="approx"
    )
    assert approx["raw"].p_value == pytest.approx(reference.pvalue)
    assert approx["z"].p_value == pytest.approx(reference.pvalue)


def test_no_spread_is_not_significant_and_says_so() -> None:
    decision = decide(Evidence(degraded_pairs=((3.0, 3.0),) * 5), Rules(degraded_scores="z"))
    assert decision.outcome == "review"
    assert "not computable" in decision.reasons[0]


@pytest.mark.parametrize(
    ("evidence", "rules", "outcome"),
    [
        (Evidence(attention_total=3, attention_failed=0), Rules(), "approve"),
        (Evidence(attention_total=3, attention_failed=1), Rules(), "review"),
        (Evidence(attention_total=3, attention_failed=2), Rules(), "reject"),
        (Evidence(attention_total=3, attention_failed=1), Rules(attention_reject_at=1), "reject"),
        (Evidence(gold_total=4, gold_correct=3), Rules(), "approve"),
        (Evidence(gold_total=4, gold_correct=2), Rules(), "reject"),
        (Evidence(gold_total=4, gold_correct=2), Rules(gold_threshold=None), "approve"),
        (Evidence(item_seconds=(1, 1, 5)), Rules(min_item_seconds=2), "review"),
        (Evidence(item_seconds=(1, 5, 5)), Rules(min_item_seconds=2), "approve"),
        (Evidence(batch_seconds=(30,)), Rules(min_batch_seconds=60), "review"),
        (Evidence(qualification_passed=False), Rules(), "review"),
        (Evidence(qualification_passed=False), Rules(qualification_failed="reject"), "reject"),
        (Evidence(), Rules(), "approve"),
    ],
)
def test_rules(evidence: Evidence, rules: Rules, outcome: str) -> None:
    decision = decide(evidence, rules)
    assert decision.outcome == outcome
    assert bool(decision.reasons) == (outcome != "approve")
    assert bool(decision.reject_reason) == (outcome == "reject")


def test_reject_wins_and_every_reason_is_listed() -> None:
    decision = decide(
        Evidence(attention_total=2, attention_failed=2, batch_seconds=(10,)),
        Rules(min_batch_seconds=60),
    )
    assert decision.outcome == "reject"
    assert len(decision.reasons) == 2
    assert "attention" in decision.reject_reason


def _simulate(careful: bool, seed: int, n_pairs: int = 10) -> Evidence:
    """An annotator rating 1-5: careful ones rate a degraded copy ~2 points lower than its
    original (with noise); a random clicker picks uniformly at random every time."""
    rng = random.Random(seed)
    pairs, scores = [], []
    for _ in range(n_pairs):
        if careful:
            quality = rng.randint(3, 5)
            orig = quality
            degr = max(1, min(5, quality - 2 + rng.choice([-1, 0, 0, 1])))
        else:
            orig, degr = rng.randint(1, 5), rng.randint(1, 5)
        pairs.append((float(orig), float(degr)))
    for _ in range(30):  # the rest of the batch
        scores.append(float(rng.randint(2, 5) if careful else rng.randint(1, 5)))
    scores += [v for pair in pairs for v in pair]
    return Evidence(
        attention_total=3,
        attention_failed=0 if careful else sum(rng.random() > 0.2 for _ in range(3)),
        degraded_pairs=tuple(pairs),
        scores=tuple(scores),
        item_seconds=tuple(
            rng.uniform(4, 20) if careful else rng.uniform(0.5, 2) for _ in range(40)
        ),
    )


@pytest.mark.parametrize("test", ["mann_whitney", "signed_rank"])
def test_careful_annotator_passes_and_random_clicker_fails(test: str) -> None:
    rules = Rules(degraded_test=test, min_item_seconds=2)  # type: ignore[arg-type]
    careful = [decide(_simulate(True, seed), rules) for seed in range(20)]
    clickers = [decide(_simulate(False, 1000 + seed), rules) for seed in range(20)]
    assert all(d.outcome == "approve" for d in careful), [d.reasons for d in careful]
    assert all(d.outcome != "approve" for d in clickers)
    # the degraded test alone (no attention checks, no times) catches most clickers
    alone = [
        decide(Evidence(degraded_pairs=e.degraded_pairs, scores=e.scores), rules)
        for e in (_simulate(False, 2000 + seed) for seed in range(40))
    ]
    assert sum(d.outcome == "review" for d in alone) >= 30


# ------------------------------------------------------------- the Django shell


@pytest.mark.django_db
def test_decisions_for_a_study_follow_attention_checks_and_the_rules() -> None:
    from django.conf import settings

    from annotation.assignment import request_work
    from annotation.completion import completion_for, finished_outcome
    from annotation.quality_control import decision_for, decisions_for_study
    from annotation.services import get_or_create_participant
    from annotation.study_builder import build_study
    from tests.annotation.test_attention_checks import finish_batch

    study = build_study(settings.BASE_DIR / "examples" / "demo_rating.yaml").study
    good = get_or_create_participant(study, "good", "prolific")
    finish_batch(study, good, request_work(good).assignment)
    bad = get_or_create_participant(study, "bad", "prolific")
    finish_batch(study, bad, request_work(bad).assignment, attention_ok=False)

    decisions = decisions_for_study(study)
    assert decisions[good.id].outcome == "approve"
    assert decisions[bad.id].outcome == "review"  # one failed check: review by default
    assert decision_for(bad) == decisions[bad.id]

    # the rules change, the decision follows (nothing stored)
    study.spec = {**study.spec, "quality_control": {"decision": {"attention_reject_at": 1}}}
    study.save(update_fields=["spec"])
    bad.study.refresh_from_db()
    assert decision_for(bad).outcome == "reject"
    assert "attention" in decision_for(bad).reject_reason
    assert finished_outcome(bad) == "failed_checks"
    assert finished_outcome(good) == "completed"

    # completion codes: the old single code stays the default, codes per outcome win
    code = study.spec["completion"].get("code")
    assert completion_for(good, "completed")[0] == code
    assert completion_for(good, "failed_checks")[0] == code
    study.spec["completion"] = {
        **study.spec["completion"],
        "codes": {"failed_checks": {"code": "FAILED1", "redirect_url": None}},
    }
    good.study.spec = study.spec
    assert completion_for(good, "failed_checks") == ("FAILED1", None)
    with pytest.raises(ValueError):
        completion_for(good, "paid")


@pytest.mark.django_db
def test_a_study_whose_rules_cannot_reject_finishes_without_reading_evidence() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from annotation.completion import finished_outcome
    from annotation.quality_control import can_reject
    from annotation.services import get_or_create_participant
    from tests.factories import make_study

    study = make_study(n_batches=1, slots=1, batch_length=2)
    assert not can_reject(study.spec)
    participant = get_or_create_participant(study, "plain", "prolific")
    with CaptureQueriesContext(connection) as queries:
        assert finished_outcome(participant) == "completed"
    assert len(queries) == 0
    # Every control that can reject turns the evidence back on.
    qc = {"decision": {}}
    for spec in (
        {**study.spec, "attention_checks": [{"id": "a1"}]},
        {**study.spec, "quality_control": {**qc, "gold": {"items": []}}},
        {
            **study.spec,
            "quality_control": {"decision": {"degraded_not_significant": "reject"}, "degraded": {}},
        },
    ):
        assert can_reject(spec), spec
    # ... unless its rule is off.
    off = {"decision": {"attention_reject_at": 0}}
    assert not can_reject(
        {**study.spec, "attention_checks": [{"id": "a1"}], "quality_control": off}
    )
    assert not can_reject({**study.spec, "quality_control": {"degraded": {"share": 0.1}}})
