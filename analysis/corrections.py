"""Multiple-comparison corrections of a table's p-values within correction families. Pure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import stats as st

from .options import AnalysisOptions

__all__ = ["correct_p_values"]


def correct_p_values(
    frame: pd.DataFrame,
    p_col: str,
    holm_col: str,
    bonf_col: str,
    options: AnalysisOptions,
    base_keys: list[str],
) -> None:
    """Holm and Bonferroni within each family (per dimension, or all dimensions)."""
    frame[holm_col] = np.nan
    frame[bonf_col] = np.nan
    if frame.empty:
        return
    keys = list(base_keys) + (["dimension"] if options.family == "per_dimension" else [])
    groups = frame.groupby(keys, sort=False).indices if keys else {None: np.arange(len(frame))}
    p_all = frame[p_col].to_numpy(np.float64)
    holm = np.full(len(frame), np.nan)
    bonf = np.full(len(frame), np.nan)
    for idx in groups.values():
        idx = np.asarray(idx)
        holm[idx] = st.holm(p_all[idx], alpha=options.alpha).p_adjusted
        bonf[idx] = st.bonferroni(p_all[idx], alpha=options.alpha).p_adjusted
    frame[holm_col] = holm
    frame[bonf_col] = bonf
