"""Krippendorff's alpha, and the helpers that turn long-format judgments (one row per item
x rater) into the shapes the agreement coefficients need.

The kappas are in :mod:`analysis.stats.kappa`, the ICCs in :mod:`analysis.stats.icc`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ._base import StatResult

__all__ = [
    "KrippendorffAlphaResult",
    "krippendorff_alpha",
    "ratings_matrix_from_long",
    "reliability_data_from_long",
    "slot_matrix_from_long",
]


# --------------------------------------------------------------------------------------
# Krippendorff's alpha
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class KrippendorffAlphaResult(StatResult):
    """Krippendorff's alpha.

    ``n_units``: pairable units (>= 2 values); ``n_values``: pairable values n (the total of
    the coincidence matrix); ``n_raters``: raters with at least one value.
    """

    alpha: float
    level: str
    n_units: int
    n_values: int
    n_raters: int
    observed_disagreement: float
    expected_disagreement: float
    method: str


def _delta2(values: np.ndarray, n_c: np.ndarray, level: str) -> np.ndarray:
    """Squared difference function delta^2_{ck} over the value domain (Krippendorff 2011)."""
    c = values[:, None]
    k = values[None, :]
    if level == "nominal":
        return (c != k).astype(np.float64)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        s = c + k
        with np.errstate(divide="ignore", invalid="ignore"):
            out = ((c - k) / s) ** 2
        return np.where(s == 0, 0.0, out)
    if level == "ordinal":
        # (sum_{g=c}^{k} n_g - (n_c + n_k)/2)^2 over ranks of the sorted value domain
        cum = np.cumsum(n_c)
        lo = np.minimum.outer(np.arange(values.size), np.arange(values.size))
        hi = np.maximum.outer(np.arange(values.size), np.arange(values.size))
        between = cum[hi] - cum[lo] + n_c[lo]
        return (between - (n_c[:, None] + n_c[None, :]) / 2.0) ** 2
    raise ValueError("level must be 'nominal', 'ordinal', 'interval' or 'ratio'")


def krippendorff_alpha(
    reliability_data: ArrayLike,
    level: Literal["nominal", "ordinal", "interval", "ratio"] = "interval",
) -> KrippendorffAlphaResult:
    """Krippendorff's alpha from a raters x units matrix (NaN = missing).

    Coincidence matrix: for each unit u with m_u >= 2 values,
    ``o_ck += (number of ordered c-k value pairs from different raters in u) / (m_u - 1)``;
    ``n_c = sum_k o_ck``, ``n = sum_c n_c``. Then
    ``alpha = 1 - D_o / D_e`` with ``D_o = sum o_ck delta2_ck / n`` and
    ``D_e = sum n_c n_k delta2_ck / (n (n - 1))`` (Krippendorff 2011,
    "Computing Krippendorff's Alpha-Reliability"). ``level`` picks delta2: nominal
    (0/1), ordinal (rank-sum based), interval ((c-k)^2), ratio (((c-k)/(c+k))^2).
    Values must be numeric (code nominal labels first); the value domain is the set of
    pairable values observed. No variation (D_e = 0) or no pairable unit -> alpha NaN.
    """
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ValueError("level must be 'nominal', 'ordinal', 'interval' or 'ratio'")
    data = np.asarray(reliability_data, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError("reliability_data must be a raters x units matrix")
    present = ~np.isnan(data)
    n_raters = int(present.any(axis=1).sum())
    m_u = present.sum(axis=0)
    pairable = m_u >= 2
    sub = data[:, pairable]
    label = f"Krippendorff's alpha ({level})"
    if sub.shape[1] == 0:
        return KrippendorffAlphaResult(
            alpha=math.nan,
            level=level,
            n_units=0,
            n_values=0,
            n_raters=n_raters,
            observed_disagreement=math.nan,
            expected_disagreement=math.nan,
            method=label,
        )
    values, codes = np.unique(sub[~np.isnan(sub)], return_inverse=True)
    n_units = sub.shape[1]
    # counts[u, c]: how many raters gave value c in unit u
    unit_idx = np.broadcast_to(np.arange(n_units), sub.shape)[~np.isnan(sub)]
    counts = np.zeros((n_units, values.size))
    np.add.at(counts, (unit_idx, codes), 1.0)
    m = counts.sum(axis=1)
    weighted = counts / (m - 1.0)[:, None]
    o = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    n_c = o.sum(axis=1)
    n = float(n_c.sum())
    d2 = _delta2(values, n_c, level)
    d_o = float(np.sum(o * d2)) / n
    d_e = float(np.sum(np.outer(n_c, n_c) * d2)) / (n * (n - 1.0))
    alpha = 1.0 - d_o / d_e if d_e > 0 else math.nan
    return KrippendorffAlphaResult(
        alpha=alpha,
        level=level,
        n_units=int(n_units),
        n_values=int(round(n)),
        n_raters=n_raters,
        observed_disagreement=d_o,
        expected_disagreement=d_e,
        method=label,
    )


def ratings_matrix_from_long(
    df: pd.DataFrame, item_col: str, rater_col: str, value_col: str
) -> pd.DataFrame:
    """Items x raters matrix (NaN where a rater did not rate an item).

    Each (item, rater) pair must occur at most once.
    """
    sub = df[[item_col, rater_col, value_col]]
    if sub.duplicated([item_col, rater_col]).any():
        raise ValueError("some (item, rater) pairs occur more than once")
    wide = sub.pivot(index=item_col, columns=rater_col, values=value_col)
    wide.columns.name = None
    return wide.astype(np.float64)


def reliability_data_from_long(
    df: pd.DataFrame, unit_col: str, rater_col: str, value_col: str
) -> tuple[np.ndarray, list[object], list[object]]:
    """Raters x units matrix for :func:`krippendorff_alpha`, plus rater and unit labels."""
    wide = ratings_matrix_from_long(df, unit_col, rater_col, value_col)
    return wide.to_numpy().T, list(wide.columns), list(wide.index)


def slot_matrix_from_long(
    df: pd.DataFrame,
    item_col: str,
    value_col: str,
    *,
    n_per_item: int | None = None,
    order_col: str | None = None,
) -> pd.DataFrame:
    """Items x rating-slots matrix for crowdsourced designs (different raters per item).

    The j-th rating of an item (in ``order_col`` order, else row order) goes to slot j.
    ``n_per_item`` keeps the first n ratings and drops items with fewer; by default the
    minimum count over items is used, so the result is complete. Suitable for ICC(1,·)
    and Fleiss' kappa, which do not assume the same raters across items.
    """
    sub = df[[item_col, value_col] + ([order_col] if order_col else [])].dropna(subset=[value_col])
    if order_col:
        sub = sub.sort_values([item_col, order_col], kind="stable")
    slot = sub.groupby(item_col, sort=False).cumcount()
    wide = (
        sub.assign(_slot=slot.to_numpy())
        .pivot(index=item_col, columns="_slot", values=value_col)
        .sort_index()
    )
    counts = wide.notna().sum(axis=1)
    k = int(counts.min()) if n_per_item is None else int(n_per_item)
    wide = wide.loc[counts >= k, list(range(k))]
    wide.columns = [f"slot_{j + 1}" for j in range(k)]
    return wide
