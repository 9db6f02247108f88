"""Per-annotator score normalisation (WMT Direct Assessment style z-scores)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

__all__ = ["per_annotator_zscores"]


def per_annotator_zscores(
    df: pd.DataFrame,
    annotator_col: str,
    value_col: str,
    by: str | Sequence[str] | None = None,
    *,
    ddof: int = 0,
    zero_sd: Literal["nan", "zero"] = "nan",
    out_col: str | None = None,
) -> pd.DataFrame:
    """Standardise each annotator's ratings (within each ``by`` group, e.g. dimension).

    ``z = (x - mean_g) / sd_g`` where g is the annotator (x ``by`` group), as in WMT Direct
    Assessment (Graham et al. 2013/2017): it removes each annotator's personal offset and
    spread before averaging across annotators.

    * ``ddof=0`` (default): population SD (divide by n); ``ddof=1``: sample SD.
    * An annotator (group) with a single non-missing rating gets NaN (no spread to divide
      by, whatever ``ddof``).
    * Zero SD with >= 2 ratings (straight-liner): NaN by default (``zero_sd="nan"``), or 0
      with ``zero_sd="zero"`` (everyone at their own mean).
    * Missing ratings stay NaN and do not enter the mean / SD.

    Returns a copy of ``df`` with a new column ``out_col`` (default ``f"{value_col}_z"``);
    row order and index are preserved.
    """
    if zero_sd not in ("nan", "zero"):
        raise ValueError("zero_sd must be 'nan' or 'zero'")
    keys = [annotator_col]
    if by is not None:
        keys += [by] if isinstance(by, str) else list(by)
    out = df.copy()
    values = pd.to_numeric(out[value_col], errors="coerce").astype(np.float64)
    groupers = [out[k] for k in keys]
    grouped = values.groupby(groupers, sort=False, dropna=False)
    mean = grouped.transform("mean")
    count = grouped.transform("count")
    dev = values - mean
    ss = (dev**2).groupby(groupers, sort=False, dropna=False).transform("sum")
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(ss / (count - ddof))
    # exact zero for constant groups (floating noise would otherwise make sd ~ 1e-17)
    spread = values.groupby(groupers, sort=False, dropna=False).transform("max") - values.groupby(
        groupers, sort=False, dropna=False
    ).transform("min")
    sd = sd.where(spread != 0, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (values - mean) / sd
    z = z.where(count >= 2, np.nan)
    constant = (count >= 2) & (spread == 0) & values.notna()
    z = z.where(~constant, 0.0 if zero_sd == "zero" else np.nan)
    out[out_col or f"{value_col}_z"] = z.astype(np.float64)
    return out
