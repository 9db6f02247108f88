"""Agreement from long data (one row per rating): Krippendorff's alpha and Fleiss' kappa
without building a raters x units matrix first. Pure.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import stats as st

__all__ = ["fleiss_from_long", "krippendorff_alpha_long"]


def krippendorff_alpha_long(
    units: np.ndarray, values: np.ndarray, level: str
) -> st.KrippendorffAlphaResult:
    """Krippendorff's alpha from long data (one value per rating, ``units`` = unit codes).

    Alpha depends only on the multiset of values within each unit (all pairs in a unit
    come from different raters when each rater rates a unit once), so no raters x units
    matrix is needed. ``interval``: closed form in O(N) -- with pairable units u holding
    m_u values and n values in all, ``D_o = (2/n) sum_u m_u SS_u / (m_u - 1)`` and
    ``D_e = 2 SS_total / (n - 1)`` (SS = sums of squared deviations from the unit / grand
    mean), which is Krippendorff's coincidence-matrix formula with delta^2 = (c - k)^2.
    Other levels: a units x slots matrix handed to :func:`analysis.stats.krippendorff_alpha`.
    ``n_raters`` is left 0 (the caller knows the raters).
    """
    units = np.asarray(units)
    values = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(values)
    units, values = units[keep], values[keep]
    codes, inverse = np.unique(units, return_inverse=True)
    m = np.bincount(inverse, minlength=codes.size)
    pairable = m[inverse] >= 2
    label = f"Krippendorff's alpha ({level})"
    if not pairable.any():
        return st.KrippendorffAlphaResult(math.nan, level, 0, 0, 0, math.nan, math.nan, label)
    inv, vals = inverse[pairable], values[pairable]
    n_units = int((m >= 2).sum())
    n = int(vals.size)
    if level == "interval":
        sums = np.bincount(inv, weights=vals, minlength=codes.size)
        mu = sums[inv] / m[inv]
        ss_u = np.bincount(inv, weights=(vals - mu) ** 2, minlength=codes.size)
        mm = m.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_unit = np.where(mm >= 2, mm * ss_u / (mm - 1.0), 0.0)
        d_o = 2.0 * float(per_unit.sum()) / n
        ss_tot = float(np.sum((vals - vals.mean()) ** 2))
        d_e = 2.0 * ss_tot / (n - 1.0)
        alpha = 1.0 - d_o / d_e if d_e > 0 else math.nan
        return st.KrippendorffAlphaResult(alpha, level, n_units, n, 0, d_o, d_e, label)
    # slot matrix: slot j of a unit holds its j-th value
    order = np.argsort(inv, kind="stable")
    inv_s, vals_s = inv[order], vals[order]
    starts = np.r_[0, np.flatnonzero(np.diff(inv_s)) + 1]
    unit_pos = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, inv_s.size]))
    slot = np.arange(inv_s.size) - starts[unit_pos]
    mat = np.full((int(slot.max()) + 1, starts.size), np.nan)
    mat[slot, unit_pos] = vals_s
    res = st.krippendorff_alpha(mat, level=level)  # type: ignore[arg-type]
    return dataclasses.replace(res, n_raters=0)


def fleiss_from_long(
    units: np.ndarray, labels: np.ndarray, categories: Sequence[object]
) -> tuple[st.FleissKappaResult | None, str]:
    """Fleiss' kappa when every unit has the same number (>= 2) of labels, else the reason
    it is not defined."""
    codes, inverse = np.unique(units, return_inverse=True)
    cat_pos = {c: i for i, c in enumerate(categories)}
    cat_codes = np.array([cat_pos[v] for v in labels], dtype=np.intp)
    table = np.zeros((codes.size, len(categories)))
    np.add.at(table, (inverse, cat_codes), 1.0)
    counts = table.sum(axis=1)
    if counts.size == 0:
        return None, "no judgments"
    lo, hi = int(counts.min()), int(counts.max())
    if lo != hi:
        return None, f"raters per item vary ({lo}-{hi}); see Krippendorff's alpha"
    if lo < 2:
        return None, "fewer than 2 ratings per item"
    frame = pd.DataFrame(table, columns=list(categories))
    return st.fleiss_kappa(frame), ""
