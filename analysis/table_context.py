"""What a table's renderers need beyond its rows (:class:`TableContext`), and the tables'
captions. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from core.vocabulary import DimensionType, Protocol

from . import formatting as fmt

if TYPE_CHECKING:
    from .result import AnalysisResult

__all__ = ["DEFAULT_CONTEXT", "TITLES", "TableContext", "plain_title", "title"]

TITLES = {
    "summary": "Ratings per system and dimension (item means)",
    "comparisons": "Pairwise comparisons of systems",
    "agreement": "Inter-annotator agreement per dimension",
    "winrates": "Head-to-head results: wins, ties and losses",
    "bradley_terry": "Bradley--Terry strengths",
    "length_bias": "Correlation of ratings with response length",
    "position_effects": "Position, block-order and side effects",
    "annotator_quality": "Annotator quality",
    "exclusion_effect": "What excluding annotators changes",
    "mixed_models": "Model-based comparisons of systems (mixed-effects and clustered models)",
}
_PAIRWISE_TITLES = {
    "summary": "Expected score per system and dimension (win 1, tie 0.5, loss 0)",
    "length_bias": "Correlation of preferences with the response-length difference",
}
_FLAGGED_ONLY_TITLE = "What excluding the flagged annotators would change"


@dataclasses.dataclass(frozen=True)
class TableContext:
    """What the renderers need to know beyond a table's rows: the protocol, the study's
    dimensions (key, type, label), who was flagged / excluded, the quality
    thresholds (for readable flag reasons) and the intervals' confidence level."""

    protocol: str = "rating"
    dimensions: tuple[Mapping[str, Any], ...] = ()
    flagged: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    thresholds: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    confidence: float = 0.95  # the level of every interval (headers say it)

    @classmethod
    def from_result(cls, result: AnalysisResult) -> TableContext:
        info = result.info
        opts = info.get("options", {})
        keys = ("min_median_seconds", "max_straightline", "min_sd", "min_attention_pass")
        return cls(
            protocol=result.protocol,
            dimensions=tuple(dict(d) for d in result.dimensions),
            flagged=tuple(info.get("flagged_annotators", ())),
            excluded=tuple(info.get("excluded_annotators", ())),
            thresholds={k: opts.get(k) for k in keys},
            confidence=float(opts.get("confidence", 0.95)),
        )

    def dimension(self, key: Any) -> Mapping[str, Any] | None:
        for d in self.dimensions:
            if str(d.get("key")) == str(key):
                return d
        return None

    def label(self, key: Any) -> str:
        return fmt.dimension_label(self.dimension(key), str(key))

    def scale(self, key: Any) -> tuple[float, float] | None:
        """The ends of a dimension's scale as its means are reported: a slider 0-100, a
        Likert scale 1..points, a checkbox's share 0-1, a pairwise expected score 0-1;
        None where unknown (a Likert scale without its points)."""
        if self.protocol == Protocol.PAIRWISE:
            return (0.0, 1.0)
        d = self.dimension(key) or {}
        kind = d.get("type")
        if kind == DimensionType.SLIDER:
            return (0.0, 100.0)
        if kind == DimensionType.CHECKBOX:
            return (0.0, 1.0)
        if kind == DimensionType.LIKERT and d.get("points"):
            return (1.0, float(d["points"]))
        return None

    def kind(self, key: Any) -> str | None:
        d = self.dimension(key)
        return None if d is None else d.get("type")


DEFAULT_CONTEXT = TableContext()


def title(name: str, context: TableContext | None = None) -> str:
    """The table's caption (LaTeX dashes as ``--``)."""
    ctx = context or DEFAULT_CONTEXT
    if ctx.protocol == Protocol.PAIRWISE and name in _PAIRWISE_TITLES:
        return _PAIRWISE_TITLES[name]
    if name == "exclusion_effect" and ctx.flagged and not ctx.excluded:
        return _FLAGGED_ONLY_TITLE
    return TITLES.get(name, name)


def plain_title(name: str, context: TableContext | None = None) -> str:
    """The caption as plain text (an en dash, not ``--``)."""
    return title(name, context).replace("--", "–")
