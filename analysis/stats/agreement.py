"""Krippendorff's alpha (the ``krippendorff`` package), and the helpers that turn long-format judgments (one row per item
x rater) into the shapes the agreement coefficients need.

The kappas are in :mod:`analysis.stats.kappa`, the ICCs in :mod:`analysis.stats.icc`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import krippendorff
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ._base import StatResult

__all__ = [
    "KrippendorffAlphaResult",
    "alpha_from_value_counts",
    "krippendorff_alpha",
    "ratings_matrix_from_long",
    "slot_matrix_from_long",
]


# --------------------------------------------------------------------------------------
# Krippendorff's alpha
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class KrippendorffAlphaResult(StatResult):
    """Krippendorff's alpha.

    ``n_units``: pairable units (>= 2 values); ``n_values``: pairable values n (the total of
    the coincidence matrix); ``n_raters``: raters with at least one value (0 when the
    caller did not say).
    """

    alpha: float
    level: str
    n_units: int
    n_values: int
    n_raters: int
    method: str


LEVELS = ("nominal", "ordinal", "interval", "ratio")


Level = Literal["nominal", "ordinal", "interval", "ratio"]


def alpha_from_value_counts(
    counts: np.ndarray, values: np.ndarray, level: Level, *, n_raters: int = 0
) -> KrippendorffAlphaResult:
    """Krippendorff's alpha from a units x values count matrix (``counts[u, c]`` = how many
    raters gave unit u the value ``values[c]``), computed by the ``krippendorff`` package
    (its ``value_counts`` input). Units with fewer than 2 values are left out; no pairable
    unit or a single value (no variation) -> NaN."""
    if level not in LEVELS:
        raise ValueError("level must be 'nominal', 'ordinal', 'interval' or 'ratio'")
    label = f"Krippendorff's alpha ({level})"
    m = counts.sum(axis=1)
    counts = counts[m >= 2]
    n_values = int(round(float(counts.sum())))
    used = counts.sum(axis=0) > 0
    counts, values = counts[:, used], values[used]
    if counts.shape[0] == 0 or values.size < 2:
        alpha = math.nan
    else:
        alpha = float(
            krippendorff.alpha(value_counts=counts, value_domain=values, level_of_measurement=level)
        )
    return KrippendorffAlphaResult(
        alpha=alpha,
        level=level,
        n_units=int(counts.shape[0]),
        n_values=n_values if counts.shape[0] else 0,
        n_raters=n_raters,
        method=label,
    )


def krippendorff_alpha(
    reliability_data: ArrayLike, level: Level = "interval"
) -> KrippendorffAlphaResult:
    """Krippendorff's alpha from a raters x units matrix (NaN = missing), computed by the
    ``krippendorff`` package (Krippendorff 2011, "Computing Krippendorff's
    Alpha-Reliability": coincidences within units with >= 2 values, ``alpha = 1 - D_o /
    D_e``; ``level`` picks the difference function).

    Values must be numeric (code nominal labels first); the value domain is the set of
    pairable values observed. No variation or no pairable unit -> alpha NaN.
    """
    if level not in LEVELS:
        raise ValueError("level must be 'nominal', 'ordinal', 'interval' or 'ratio'")
    data = np.asarray(reliability_data, dtype=np.float64)
    if data.ndim != 2:
        raise ValueError("reliability_data must be a raters x units matrix")
    present = ~np.isnan(data)
    n_raters = int(present.any(axis=1).sum())
    values, codes = np.unique(data[present], return_inverse=True)
    unit_idx = np.broadcast_to(np.arange(data.shape[1]), data.shape)[present]
    counts = np.zeros((data.shape[1], values.size))
    np.add.at(counts, (unit_idx, codes), 1.0)
    return alpha_from_value_counts(counts, values, level, n_raters=n_raters)


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
