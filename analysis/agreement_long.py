"""Agreement from long data (one row per rating): Krippendorff's alpha, Fleiss' kappa and
the free-marginal kappa without building a raters x units matrix first. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis import stats as st
from analysis.formatting import comma_list

__all__ = ["kappa_rows", "krippendorff_alpha_long"]


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
    Why written out for interval data: the ``krippendorff`` package works on the units x
    values coincidences, which for 0-100 sliders (101 values) takes ~13 s at the 100x EmPO
    size; this takes milliseconds (checked against the package in the tests). Other levels
    (few categories): the units x values counts handed to the package.
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
        return st.KrippendorffAlphaResult(math.nan, level, 0, 0, 0, label)
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
        return st.KrippendorffAlphaResult(alpha, level, n_units, n, 0, label)
    # other levels: the units x values count matrix for the krippendorff package
    domain, vcodes = np.unique(vals, return_inverse=True)
    counts = np.zeros((codes.size, domain.size))
    np.add.at(counts, (inv, vcodes), 1.0)
    return st.alpha_from_value_counts(counts, domain, level)  # type: ignore[arg-type]


def kappa_rows(
    dimension: str,
    units: np.ndarray,
    labels: np.ndarray,
    categories: Sequence[object],
    *,
    names: Sequence[str],
    suffix: str = "",
    what: str = "",
    k_words: str = "",
) -> list[dict[str, Any]]:
    """Agreement-table rows of Fleiss' kappa and the free-marginal kappa over
    ``categories`` (words: ``names``) when every unit has the same number (>= 2) of labels,
    else NaN with the reason. ``suffix`` ends the metric names (``fleiss_kappa<suffix>``),
    ``what`` starts the note (which categories these are), ``k_words`` says where the
    free-marginal kappa's K comes from."""
    table, why = _count_table(units, labels, categories)
    fleiss = st.fleiss_kappa(table) if table is not None else None
    free = st.free_marginal_kappa(table) if table is not None else None
    n_items = int(len(table)) if table is not None else 0
    n_raters = fleiss.n_raters if fleiss is not None else 0
    cats = f"{what}categories {comma_list(names)}"
    rows = []
    for metric, res in (("fleiss_kappa", fleiss), ("free_marginal_kappa", free)):
        note = why
        value = math.nan
        if res is not None:
            value = res.kappa
            if metric == "fleiss_kappa":
                note = f"{cats}; raters per item fixed"
                if math.isnan(value):
                    note = (
                        f"every rating is in one category ({comma_list(names)}): expected "
                        "agreement is 1, kappa undefined"
                    )
            else:
                note = f"{cats}; chance agreement 1/K, K = {res.n_categories}{k_words}"
        rows.append(
            {
                "dimension": dimension,
                "metric": metric + suffix,
                "value": value,
                "n_items": n_items,
                "n_raters": n_raters,
                "level": "nominal",
                "ci_low": math.nan,
                "ci_high": math.nan,
                "note": note,
            }
        )
    return rows


def _count_table(
    units: np.ndarray, labels: np.ndarray, categories: Sequence[object]
) -> tuple[pd.DataFrame | None, str]:
    """The units x categories count table when every unit has the same number (>= 2) of
    labels, else None and the reason."""
    if units.size == 0:
        return None, "no judgments"
    codes, inverse = np.unique(units, return_inverse=True)
    cat_pos = {c: i for i, c in enumerate(categories)}
    cat_codes = np.array([cat_pos[v] for v in labels], dtype=np.intp)
    table = np.zeros((codes.size, len(categories)))
    np.add.at(table, (inverse, cat_codes), 1.0)
    counts = table.sum(axis=1)
    lo, hi = int(counts.min()), int(counts.max())
    if lo != hi:
        return None, f"raters per item vary ({lo}-{hi}); see Krippendorff's alpha"
    if lo < 2:
        return None, "fewer than 2 ratings per item"
    return pd.DataFrame(table, columns=list(categories)), ""
