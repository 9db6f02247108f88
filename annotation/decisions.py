"""One quality-control decision per annotator: approve, reject or review. Pure (no Django).

The evidence (attention checks, degraded controls, gold items, times, the qualification)
is gathered by the Django shell ``annotation.quality_control``; the rules come from the
spec (``quality_control.decision``, ``annotation.spec.decision``). ``decide`` turns them
into a ``Decision``; it is a function of both, so a decision changes as soon as the rules do.

The degraded-control test follows Appraise (WMT direct assessment; Ji et al. 2022 for
open-domain dialogue): an annotator is trusted only if their scores for the degraded
copies are significantly lower than for the originals — a one-sided Mann–Whitney U test
(``scipy.stats.mannwhitneyu``), or the Wilcoxon signed-rank test on the (original,
degraded) pairs (``scipy.stats.wilcoxon``), on raw scores and on per-annotator z-scores.
See decisions.md for why the raw and z variants agree for one annotator. In pairwise
studies a copy is the original against its degraded text, so the test is a one-sided sign
test on which side the annotator preferred (``scipy.stats.binomtest``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

__all__ = [
    "DegradedTest",
    "Decision",
    "Evidence",
    "Preference",
    "Rules",
    "decide",
    "degraded_tests",
    "per_annotator_z",
    "preference_test",
]

Outcome = Literal["approve", "reject", "review"]
TestName = Literal["mann_whitney", "signed_rank", "sign"]
Preference = Literal["original", "degraded", "tie"]
Scores = Literal["raw", "z"]
Action = Literal["reject", "review"]


@dataclass(frozen=True)
class Decision:
    """``outcome``; ``reasons`` (every rule that fired, readable); ``reject_reason``: the
    one text a platform needs with a rejection (empty unless the outcome is reject)."""

    outcome: Outcome
    reasons: tuple[str, ...] = ()
    reject_reason: str = ""
    # The rule behind ``reject_reason`` (one of REJECT_RULES), for a platform's category.
    reject_rule: str = ""


@dataclass(frozen=True)
class Evidence:
    """What one annotator did. Unknown or absent evidence is empty / None, and no rule
    fires on it.

    ``degraded_pairs``: (score of the original, score of its degraded copy) on the
    decision's dimension; ``scores``: all the annotator's scores on that dimension (real
    items and copies), the base of their z-scores (the pairs' own values when empty).
    """

    attention_total: int = 0
    attention_failed: int = 0
    degraded_pairs: tuple[tuple[float, float], ...] = ()
    scores: tuple[float, ...] = ()
    gold_total: int = 0
    gold_correct: int = 0
    item_seconds: tuple[float, ...] = ()
    batch_seconds: tuple[float, ...] = ()
    qualification_passed: bool | None = None
    items_judged: int = 0
    # Pairwise studies: per degraded copy (the original against its degraded text), which
    # side the annotator preferred on the decision's dimension.
    degraded_preferences: tuple[Preference, ...] = ()

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_total if self.gold_total else None


@dataclass(frozen=True)
class Rules:
    """The decision rules (defaults as in ``annotation.spec.decision``)."""

    attention_reject_at: int | None = 2  # reject when this many checks failed
    attention_review_at: int | None = 1  # review when this many failed (below the above)
    degraded_test: TestName = "mann_whitney"
    degraded_scores: Scores = "z"
    alpha: float = 0.05
    degraded_not_significant: Action = "review"
    gold_threshold: float | None = 0.75  # reject below this share of gold answered right
    min_item_seconds: float | None = None
    min_batch_seconds: float | None = None
    too_fast_share: float = 0.5  # review when more than this share of items is too fast
    qualification_failed: Action = "review"


@dataclass(frozen=True)
class DegradedTest:
    """One labelled variant of the degraded-control test (one-sided: originals greater)."""

    test: TestName
    scores: Scores
    n_pairs: int
    statistic: float
    p_value: float
    alpha: float

    @property
    def significant(self) -> bool:
        return not math.isnan(self.p_value) and self.p_value < self.alpha

    @property
    def label(self) -> str:
        if self.test == "sign":
            return "sign test on preferences for the original (ties left out)"
        name = "Mann–Whitney U" if self.test == "mann_whitney" else "Wilcoxon signed-rank"
        return f"{name} on {'z-scores' if self.scores == 'z' else 'raw scores'}"


def per_annotator_z(values: Sequence[float], base: Sequence[float] = ()) -> list[float]:
    """``values`` as z-scores against the mean and population SD (ddof 0) of ``base``
    (``values`` themselves when empty). NaN when there is no spread (fewer than two
    scores, or all equal).

    Hand-written because the project's convention lives in
    ``analysis.stats.normalize.per_annotator_zscores`` (same mean, ddof 0, NaN for no
    spread), which annotation cannot import (apps are layered: analysis is above
    annotation); tests/annotation/test_decisions.py checks the two agree.
    """
    ref = np.asarray(list(base) or list(values), dtype=np.float64)
    ref = ref[~np.isnan(ref)]
    out = np.asarray(values, dtype=np.float64)
    if ref.size < 2 or float(ref.max() - ref.min()) == 0.0:
        return [math.nan] * len(out)
    return list((out - ref.mean()) / ref.std(ddof=0))


def degraded_tests(
    pairs: Sequence[tuple[float, float]], scores: Sequence[float] = (), alpha: float = 0.05
) -> list[DegradedTest]:
    """All four labelled variants (Mann–Whitney / signed-rank × raw / z) over the pairs.
    Empty when there are no pairs. A variant that cannot be computed (no spread for z,
    all differences zero) has a NaN p-value and is not significant."""
    if not pairs:
        return []
    originals = [float(o) for o, _ in pairs]
    degraded = [float(d) for _, d in pairs]
    base = list(scores) or originals + degraded
    z_orig = per_annotator_z(originals, base)
    z_degr = per_annotator_z(degraded, base)
    out: list[DegradedTest] = []
    variants: tuple[tuple[Scores, list[float], list[float]], ...] = (
        ("raw", originals, degraded),
        ("z", z_orig, z_degr),
    )
    method = signed_rank_method(originals, degraded)
    for kind, a, b in variants:
        out.append(DegradedTest("mann_whitney", kind, len(pairs), *_mann_whitney(a, b), alpha))
        out.append(
            DegradedTest("signed_rank", kind, len(pairs), *_signed_rank(a, b, method), alpha)
        )
    return out


def signed_rank_method(a: Sequence[float], b: Sequence[float]) -> Literal["exact", "approx"]:
    """The signed-rank p-value's method, from the raw scores (so raw and z agree): the exact
    null distribution without ties or zero differences (n <= 50, as scipy's own rule), else
    the normal approximation with the tie correction. scipy's default would compute a
    permutation distribution with ties: about half a second per annotator, too slow for a
    study's decisions page, for the same answer to two decimals."""
    diffs = [abs(x - y) for x, y in zip(a, b, strict=True)]
    tied = 0 in diffs or len(set(diffs)) < len(diffs)
    return "approx" if tied or len(diffs) > 50 else "exact"


def _mann_whitney(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    if any(math.isnan(v) for v in (*a, *b)):
        return math.nan, math.nan
    res = stats.mannwhitneyu(a, b, alternative="greater")
    return float(res.statistic), float(res.pvalue)


def _signed_rank(
    a: Sequence[float], b: Sequence[float], method: Literal["exact", "approx"]
) -> tuple[float, float]:
    # Rounded: z differences of equal raw differences tie again (floating-point noise would
    # give them distinct ranks).
    diffs = [round(x - y, 9) for x, y in zip(a, b, strict=True)]
    if any(math.isnan(d) for d in diffs) or all(d == 0 for d in diffs):
        return math.nan, math.nan
    res = stats.wilcoxon(diffs, alternative="greater", method=method)
    return float(res.statistic), float(res.pvalue)


def preference_test(preferences: Sequence[Preference], alpha: float = 0.05) -> DegradedTest | None:
    """Pairwise copies: a one-sided sign test (``scipy.stats.binomtest``, p = 1/2) that the
    annotator prefers the original over its degraded text more often than not; ties are
    left out, as in a sign test. ``n_pairs`` counts the copies that were not ties; with
    none the p-value is NaN (not computable). None without copies."""
    if not preferences:
        return None
    wins = sum(1 for p in preferences if p == "original")
    losses = sum(1 for p in preferences if p == "degraded")
    if wins + losses == 0:
        return DegradedTest("sign", "raw", 0, math.nan, math.nan, alpha)
    res = stats.binomtest(wins, wins + losses, 0.5, alternative="greater")
    return DegradedTest("sign", "raw", wins + losses, float(wins), float(res.pvalue), alpha)


def chosen_test(evidence: Evidence, rules: Rules) -> DegradedTest | None:
    """The variant the rules decide with (None without degraded controls); pairwise
    copies always use the sign test."""
    if evidence.degraded_preferences and not evidence.degraded_pairs:
        return preference_test(evidence.degraded_preferences, rules.alpha)
    for test in degraded_tests(evidence.degraded_pairs, evidence.scores, rules.alpha):
        if test.test == rules.degraded_test and test.scores == rules.degraded_scores:
            return test
    return None


#: The rules that can reject: attention checks, the qualification, gold items, the
#: degraded-control test (the time rules only ask for a review).
REJECT_RULES = ("attention", "qualification", "gold", "degraded")


@dataclass
class _Verdict:
    rejects: list[str] = field(default_factory=list)
    reviews: list[str] = field(default_factory=list)
    first_reject_rule: str = ""

    def add(self, action: Action, reason: str, rule: str = "") -> None:
        if action == "reject" and not self.rejects:
            self.first_reject_rule = rule
        (self.rejects if action == "reject" else self.reviews).append(reason)


def decide(evidence: Evidence, rules: Rules) -> Decision:
    """Apply every rule; reject if any rejecting rule fired, else review if any reviewing
    rule fired, else approve. ``reasons`` lists every rule that fired (rejections first);
    ``reject_reason`` is the first rejection's text."""
    v = _Verdict()
    failed = evidence.attention_failed
    if evidence.attention_total:
        said = f"failed {failed} of {evidence.attention_total} attention checks"
        if rules.attention_reject_at is not None and failed >= rules.attention_reject_at:
            v.add("reject", said, "attention")
        elif rules.attention_review_at is not None and failed >= rules.attention_review_at:
            v.add("review", said)
    if evidence.qualification_passed is False:
        v.add(rules.qualification_failed, "did not pass the qualification", "qualification")
    accuracy = evidence.gold_accuracy
    if accuracy is not None and rules.gold_threshold is not None:
        if accuracy < rules.gold_threshold:
            v.add(
                "reject",
                f"answered {evidence.gold_correct} of {evidence.gold_total} gold items right "
                f"({accuracy:.0%}, below {rules.gold_threshold:.0%})",
                "gold",
            )
    test = chosen_test(evidence, rules)
    if test is not None and not test.significant:
        p = "not computable" if math.isnan(test.p_value) else f"p = {test.p_value:.3g}"
        v.add(
            rules.degraded_not_significant,
            f"scores for degraded copies not significantly lower ({test.label}, "
            f"{test.n_pairs} {'copies' if test.test == 'sign' else 'pairs'}, {p}, "
            f"alpha {rules.alpha:g})",
            "degraded",
        )
    if rules.min_item_seconds is not None and evidence.item_seconds:
        fast = sum(1 for s in evidence.item_seconds if s < rules.min_item_seconds)
        if fast / len(evidence.item_seconds) > rules.too_fast_share:
            v.add(
                "review",
                f"{fast} of {len(evidence.item_seconds)} items faster than "
                f"{rules.min_item_seconds:g} s",
            )
    if rules.min_batch_seconds is not None:
        fast_batches = [s for s in evidence.batch_seconds if s < rules.min_batch_seconds]
        if fast_batches:
            v.add(
                "review",
                f"{len(fast_batches)} batch(es) finished in under "
                f"{rules.min_batch_seconds:g} s (fastest {min(fast_batches):.0f} s)",
            )
    if v.rejects:
        return Decision(
            "reject",
            tuple(v.rejects + v.reviews),
            _platform_text(v.rejects[0]),
            v.first_reject_rule,
        )
    if v.reviews:
        return Decision("review", tuple(v.reviews))
    return Decision("approve")


def _platform_text(reason: str) -> str:
    return f"Quality control: {reason}."
