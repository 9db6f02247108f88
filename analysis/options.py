"""What a study analysis computes and how: :class:`AnalysisOptions`. Pure.

Every choice made here ends up in the methods text (``analysis.methods``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from analysis.stats._base import Alternative
from analysis.stats.permutation import TwoSidedRule

__all__ = ["ALTERNATIVE_WORDS", "TWO_SIDED_WORDS", "ZSCORE_CONVENTIONS", "AnalysisOptions"]

#: each test alternative as the methods text words it
ALTERNATIVE_WORDS = {
    "two-sided": "two-sided",
    "greater": "one-sided (greater)",
    "less": "one-sided (less)",
}

#: the two-sided permutation p-value rules (``permutation_two_sided``) as the methods text
#: words them
TWO_SIDED_WORDS = {
    "absolute": "the share of resamples with |T*| >= |T|",
    "doubled": "twice the smaller one-sided p-value, capped at 1 (as scipy's permutation_test)",
}

#: per-annotator z-score conventions (``zscore``): (SD ddof, what a constant annotator
#: gets, the words of the methods text)
ZSCORE_CONVENTIONS: dict[str, tuple[int, Literal["nan", "zero"], str]] = {
    "population": (
        0,
        "nan",
        "divided by their population SD (n); annotators with constant ratings in a "
        "dimension get no z-score",
    ),
    "wmt": (
        1,
        "zero",
        "divided by their sample SD (n - 1), as WMT / Appraise; annotators with constant "
        "ratings in a dimension get z = 0",
    ),
}


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
    """What to compute and how. Every choice ends up in ``AnalysisResult.methods``.

    ``systems`` both selects systems and fixes their order (system_a of a comparison comes
    before system_b; one-sided alternatives test system_a against system_b). Quality
    thresholds are those of :func:`analysis.stats.annotator_quality` (None disables a rule).

    ``permutation_two_sided``: ``"absolute"`` (|T*| >= |T|) or ``"doubled"`` (2 x the
    smaller one-sided p, as scipy). ``zscore``: ``"population"`` (population SD, constant
    annotators get no z-score) or ``"wmt"`` (sample SD, z = 0 for a constant annotator, as
    WMT / Appraise). ``bt_reference``: the system whose Bradley–Terry log-strength is 0
    (None: the log-strengths sum to 0); ``elo_scale``: Elo points per factor of 10 in the
    odds (Elo = 1000 + elo_scale x log10 strength).
    """

    alternative: Alternative = "two-sided"
    family: str = "per_dimension"
    n_permutations: int = 10_000
    n_bootstrap: int = 2_000
    seed: int = 0
    confidence: float = 0.95
    alpha: float = 0.05
    systems: tuple[str, ...] | None = None
    dimensions: tuple[str, ...] | None = None
    exclude_annotators: tuple[str, ...] = ()
    exclude_flagged: bool = False
    include_partial: bool = False
    paired_min_overlap: float = 0.8
    min_median_seconds: float | None = 3.0
    max_straightline: float | None = 0.8
    min_sd: float | None = 0.0
    min_attention_pass: float | None = 0.8
    min_judgments: int = 5
    permutation_two_sided: TwoSidedRule = "absolute"
    zscore: Literal["population", "wmt"] = "population"
    bt_reference: str | None = None
    elo_scale: float = 400.0
    # model-based comparisons (analysis.mixed) beside the t-tests; off by default because
    # the models cost seconds at EmPO size where the rest of the analysis costs 0.3 s
    mixed_models: bool = False

    def __post_init__(self) -> None:
        if self.alternative not in ALTERNATIVE_WORDS:
            raise ValueError(
                f"alternative must be one of two-sided, greater, less (got {self.alternative!r})"
            )
        if self.family not in ("per_dimension", "all"):
            raise ValueError(f"family must be 'per_dimension' or 'all' (got {self.family!r})")
        if int(self.n_permutations) < 1 or int(self.n_bootstrap) < 1:
            raise ValueError("n_permutations and n_bootstrap must be at least 1")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError("confidence must be in (0, 1)")
        if self.permutation_two_sided not in TWO_SIDED_WORDS:
            raise ValueError(
                "permutation_two_sided must be 'absolute' or 'doubled' "
                f"(got {self.permutation_two_sided!r})"
            )
        if self.zscore not in ZSCORE_CONVENTIONS:
            raise ValueError(f"zscore must be 'population' or 'wmt' (got {self.zscore!r})")
        if not float(self.elo_scale) > 0:
            raise ValueError("elo_scale must be positive")
        if self.bt_reference == "":
            object.__setattr__(self, "bt_reference", None)
        if not 0.0 < self.paired_min_overlap <= 1.0:
            raise ValueError("paired_min_overlap must be in (0, 1]")
        for name in ("systems", "dimensions", "exclude_annotators"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                if isinstance(value, str):
                    value = tuple(v for v in value.split(",") if v)
                object.__setattr__(self, name, tuple(str(v) for v in value))

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("systems", "dimensions", "exclude_annotators"):
            if out[key] is not None:
                out[key] = list(out[key])
        return out
