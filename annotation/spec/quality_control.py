"""The spec's ``quality_control`` section (pure): degraded controls, gold items, minimum time.

- ``degraded``: for ``share`` of the real items of each batch the designer adds a degraded
  copy the same annotator rates later in the batch (``annotation/design/degraded.py``); the
  per-annotator test (``test``, on ``scores``, at ``alpha``) is the decision's.
- ``gold``: items with known answers, the shape of ``attention_checks`` entries; mixed into
  batches (``placement: batch``) or shown before the first real item (``qualification``),
  passed at ``pass_threshold``.
- ``min_time``: the least time an item and a batch may take, used in the decision.
- ``decision``: the rules of the one decision per annotator (``annotation.decisions``:
  approve / reject / review); 0 turns a count or threshold rule off.

Controls never enter coverage, k or any statistic (annotation/design.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field

from annotation.spec.parts import AttentionCheckSpec, list_of
from annotation.spec_fields import Flag, SpecModel, located

__all__ = [
    "DEGRADATIONS",
    "DecisionSpec",
    "DegradedSpec",
    "GoldSpec",
    "MinTimeSpec",
    "QualityControlSpec",
]

#: The degradations the designer knows (``annotation.design.degraded``).
Degradation = Literal["replace_span", "shuffle_words", "unrelated_response"]
DEGRADATIONS: tuple[Degradation, ...] = ("replace_span", "shuffle_words", "unrelated_response")

# Every annotator answers every gold item of a qualification; more is a test, not a screen.
MAX_GOLD_ITEMS = 200

Share = Annotated[float, Field(gt=0, le=0.5)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Alpha = Annotated[float, Field(gt=0, le=0.5)]
# A day in seconds: longer than any batch anyone means.
Seconds = Annotated[float, Field(ge=0, le=24 * 60 * 60)]


def _kinds(value: Any) -> Any:
    value = list_of("a list of degradations", non_empty=True)(value)
    if isinstance(value, list | tuple) and len(set(map(str, value))) != len(value):
        raise located(("", "names a degradation twice"))
    return value


class DegradedSpec(SpecModel):
    """Degraded copies of real items (WMT direct assessment's quality control)."""

    share: Share = 0.1
    kinds: Annotated[tuple[Degradation, ...], BeforeValidator(_kinds)] = DEGRADATIONS
    test: Literal["mann_whitney", "signed_rank"] = "mann_whitney"
    scores: Literal["z", "raw"] = "z"
    alpha: Alpha = 0.05

    bounds: ClassVar[Mapping[str, str]] = {
        "share": "controls beyond half a batch crowd out the real items",
        "alpha": "a one-sided test's level; 0.05 is usual",
    }

    def to_dict(self) -> dict[str, Any]:
        return {
            "share": self.share,
            "kinds": list(self.kinds),
            "test": self.test,
            "scores": self.scores,
            "alpha": self.alpha,
        }


class GoldSpec(SpecModel):
    """Items with known answers; each entry has the shape of an attention check."""

    items: Annotated[
        tuple[AttentionCheckSpec, ...],
        BeforeValidator(list_of("a list of gold items", non_empty=True)),
        Field(max_length=MAX_GOLD_ITEMS),
    ]
    placement: Literal["batch", "qualification"] = "batch"
    pass_threshold: Fraction = 0.75
    feedback: Flag = True

    missing: ClassVar[Mapping[str, str]] = {
        "items": "is required: a non-empty list of {id, context, response(s), expect}",
    }
    bounds: ClassVar[Mapping[str, str]] = {
        "items": "each is shown to every annotator; a qualification uses a handful",
    }

    def to_dict(self, protocol: str) -> dict[str, Any]:
        return {
            "items": [g.to_dict(protocol) for g in self.items],
            "placement": self.placement,
            "pass_threshold": self.pass_threshold,
            "feedback": self.feedback,
        }


class MinTimeSpec(SpecModel):
    """The least time, in seconds, an item and a whole batch may take."""

    per_item_seconds: Seconds | None = None
    per_batch_seconds: Seconds | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "per_item_seconds": self.per_item_seconds,
            "per_batch_seconds": self.per_batch_seconds,
        }


Action = Literal["reject", "review"]
# Attention checks failed before a rule fires; 0: the rule is off.
FailCount = Annotated[int, Field(strict=True, ge=0, le=1000)]


class DecisionSpec(SpecModel):
    """The decision's rules (defaults as ``annotation.decisions.Rules``). A count or
    threshold of 0 turns its rule off (null means "the default", as everywhere)."""

    attention_reject_at: FailCount = 2
    attention_review_at: FailCount = 1
    gold_threshold: Fraction = 0.75
    degraded_not_significant: Action = "review"
    too_fast_share: Fraction = 0.5
    qualification_failed: Action = "review"
    # The dimension the degraded-control test reads: a rating study's slider or likert
    # (default: the first), a pairwise study's choice (default: the first).
    dimension: Annotated[str, Field(strict=True, min_length=1, max_length=100)] | None = None

    bounds: ClassVar[Mapping[str, str]] = {
        "attention_reject_at": "more checks than any batch holds",
        "attention_review_at": "more checks than any batch holds",
    }

    def to_dict(self) -> dict[str, Any]:
        return {
            "attention_reject_at": self.attention_reject_at,
            "attention_review_at": self.attention_review_at,
            "gold_threshold": self.gold_threshold,
            "degraded_not_significant": self.degraded_not_significant,
            "too_fast_share": self.too_fast_share,
            "qualification_failed": self.qualification_failed,
            "dimension": self.dimension,
        }


class QualityControlSpec(SpecModel):
    """The ``quality_control`` section; every part is optional."""

    degraded: DegradedSpec | None = None
    gold: GoldSpec | None = None
    min_time: MinTimeSpec | None = None
    decision: DecisionSpec | None = None

    def to_dict(self, protocol: str) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.degraded is not None:
            d["degraded"] = self.degraded.to_dict()
        if self.gold is not None:
            d["gold"] = self.gold.to_dict(protocol)
        if self.min_time is not None:
            d["min_time"] = self.min_time.to_dict()
        if self.decision is not None:
            d["decision"] = self.decision.to_dict()
        return d
