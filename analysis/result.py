"""What a study analysis returns: the tables (fixed columns per table) and
:class:`AnalysisResult`. Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import pandas as pd

from analysis.stats.diagnostics import ANNOTATOR_QUALITY_COLUMNS
from core.vocabulary import Protocol

from .mixed import MIXED_COLUMNS
from .options import AnalysisOptions

__all__ = ["AnalysisResult", "TABLE_COLUMNS", "TABLE_NAMES", "table_frame"]

TABLE_COLUMNS: dict[str, list[str]] = {
    "summary": [
        "dimension",
        "system",
        "n_judgments",
        "n_items",
        "mean",
        "sd",
        "ci_low",
        "ci_high",
        "mean_z",
    ],
    "comparisons": [
        "dimension",
        "system_a",
        "system_b",
        "design",
        "alternative",
        "n",
        "mean_a",
        "mean_b",
        "t",
        "df",
        "p_value",
        "p_holm",
        "p_bonferroni",
        "p_permutation",
        "cohens_d_pooled",
        "cohens_dz",
        "hedges_g",
        "ci_low",
        "ci_high",
        # extra columns (after the fixed ones)
        "variant",
        "n_a",
        "n_b",
        "mean_diff",
        "cohens_d_av",
        "cohens_d_rm",
    ],
    "agreement": [
        "dimension",
        "metric",
        "value",
        "n_items",
        "n_raters",
        "level",
        "ci_low",
        "ci_high",
        "note",
    ],
    "winrates": [
        "dimension",
        "system_a",
        "system_b",
        "wins_a",
        "ties",
        "wins_b",
        "share_a",
        "share_tie",
        "share_b",
        "p_sign",
        "p_permutation",
        "n",
        "p_sign_holm",
        "p_sign_bonferroni",
        "share_a_decisive",
        "cp_low",
        "cp_high",
        "wilson_low",
        "wilson_high",
    ],
    "bradley_terry": [
        "dimension",
        "system",
        "strength",
        "log_strength",
        "ci_low",
        "ci_high",
        "wins",
        "n_comparisons",
        # extra columns (after the fixed ones)
        "se",
        "elo",
        "deviance",
        "df_residual",
    ],
    "length_bias": [
        "dimension",
        "system",
        "n",
        "pearson_r",
        "pearson_p",
        "spearman_rho",
        "spearman_p",
    ],
    "position_effects": [
        "dimension",
        "factor",
        "estimate",
        "se",
        "statistic",
        "df",
        "p_value",
        "n",
        "n_groups",
        "description",
    ],
    "annotator_quality": [*ANNOTATOR_QUALITY_COLUMNS, "excluded"],
    "exclusion_effect": [
        "dimension",
        "system_a",
        "system_b",
        "quantity",
        "with_all",
        "without_excluded",
        "change",
        "n_annotators_excluded",
    ],
    # model-based comparisons (analysis.mixed), with AnalysisOptions(mixed_models=True)
    "mixed_models": MIXED_COLUMNS,
}
TABLE_NAMES = tuple(TABLE_COLUMNS)


@dataclasses.dataclass
class AnalysisResult:
    """Tables (pandas DataFrames with the columns of ``TABLE_COLUMNS``) and methods.

    ``judgments`` is the frame that was analysed (after filters and exclusions; ratings
    carry ``value_z``; pairwise rows are oriented to the canonical pair order and carry
    ``score`` = +1 A / 0 tie / -1 B). ``info`` holds counts, the systems and dimensions
    analysed, who was excluded and the options, as plain Python values.
    """

    protocol: str
    dimensions: list[dict]
    systems: list[str]
    options: AnalysisOptions
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    agreement: pd.DataFrame
    winrates: pd.DataFrame
    bradley_terry: pd.DataFrame
    length_bias: pd.DataFrame
    position_effects: pd.DataFrame
    annotator_quality: pd.DataFrame
    exclusion_effect: pd.DataFrame
    methods: list[str]
    judgments: pd.DataFrame
    info: dict[str, Any]
    mixed_models: pd.DataFrame = dataclasses.field(
        default_factory=lambda: table_frame("mixed_models")
    )

    def tables(self) -> dict[str, pd.DataFrame]:
        """All tables by name, in ``TABLE_NAMES`` order."""
        return {name: getattr(self, name) for name in TABLE_NAMES}

    def applicable_tables(self) -> dict[str, pd.DataFrame]:
        """The tables that make sense for this study (what the bundle writes)."""
        out = {}
        for name, frame in self.tables().items():
            if name == "comparisons" and self.protocol != Protocol.RATING:
                continue
            if name == "winrates" and self.protocol != Protocol.PAIRWISE:
                continue
            if name == "mixed_models" and frame.empty:
                continue  # only when asked for (and a rating study)
            if name == "bradley_terry" and (
                self.protocol != Protocol.PAIRWISE or len(self.systems) < 3
            ):
                continue
            out[name] = frame
        return out


def table_frame(name: str, rows: Iterable[dict] | None = None) -> pd.DataFrame:
    """The table ``name`` with its fixed columns (``TABLE_COLUMNS``), empty without rows."""
    cols = TABLE_COLUMNS[name]
    rows = list(rows or [])
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.DataFrame(rows).reindex(columns=cols)
