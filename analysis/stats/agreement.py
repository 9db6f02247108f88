"""Inter-annotator agreement: Fleiss' kappa, Krippendorff's alpha, Cohen's kappa, ICC.

Also helpers that turn long-format judgments (one row per item x rater) into the shapes
these coefficients need.

Why a little over 600 lines: each coefficient sits beside the reshaping it needs, and the
module is due to shrink when Fleiss' and Cohen's kappa and Krippendorff's alpha move onto
statsmodels and the ``krippendorff`` package (the issue "Statistics a reviewer cannot
fault"); what stays hand-written is the ICC family with missing cells.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats as sps

from ._base import StatResult, check_confidence

__all__ = [
    "FleissKappaResult",
    "KrippendorffAlphaResult",
    "CohensKappaResult",
    "ICCResult",
    "fleiss_kappa",
    "fleiss_table_from_ratings",
    "fleiss_table_from_long",
    "krippendorff_alpha",
    "reliability_data_from_long",
    "ratings_matrix_from_long",
    "slot_matrix_from_long",
    "cohens_kappa",
    "icc",
    "icc_all",
    "ICC_FORMS",
]


# --------------------------------------------------------------------------------------
# Fleiss' kappa
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class FleissKappaResult(StatResult):
    """Fleiss' kappa with the observed/expected agreement and a z-test of kappa = 0.

    ``se_null``, ``z`` and ``p`` (one-sided, kappa > 0) use the large-sample variance under
    H0 of Fleiss, Nee & Landis (1979), as R's ``irr::kappam.fleiss``.
    ``category_proportions`` are the overall shares p_j in column order.
    """

    kappa: float
    n_items: int
    n_raters: int
    n_categories: int
    p_observed: float
    p_expected: float
    se_null: float
    z: float
    p: float
    category_proportions: tuple[float, ...]
    categories: tuple[object, ...]
    method: str


def fleiss_table_from_ratings(
    ratings: ArrayLike, categories: Sequence[object] | None = None
) -> pd.DataFrame:
    """Items x categories count table from an items x raters matrix of category labels.

    Missing labels (None/NaN) are ignored, so rows may sum to different totals (which
    :func:`fleiss_kappa` then rejects). ``categories`` fixes column order and may include
    categories nobody used.
    """
    frame = pd.DataFrame(np.asarray(ratings, dtype=object))
    long = frame.stack(future_stack=True).dropna().reset_index()
    long.columns = ["item", "rater", "category"]
    table = fleiss_table_from_long(long, "item", "rater", "category", categories=categories)
    return table.reindex(range(frame.shape[0]), fill_value=0)


def fleiss_table_from_long(
    df: pd.DataFrame,
    item_col: str,
    rater_col: str,
    category_col: str,
    categories: Sequence[object] | None = None,
) -> pd.DataFrame:
    """Items x categories count table (index = items) from long-format labels.

    Each (item, rater) pair must occur at most once; rows with a missing category are
    dropped. Rater identity is otherwise irrelevant to Fleiss' kappa: only counts matter.
    """
    sub = df[[item_col, rater_col, category_col]].dropna(subset=[category_col])
    if sub.duplicated([item_col, rater_col]).any():
        raise ValueError("some (item, rater) pairs have more than one label")
    table = pd.crosstab(sub[item_col], sub[category_col])
    if categories is not None:
        extra = set(table.columns) - set(categories)
        if extra:
            raise ValueError(f"labels not in categories: {sorted(map(str, extra))}")
        table = table.reindex(columns=list(categories), fill_value=0)
    table.columns.name = None
    return table


def fleiss_kappa(
    data: ArrayLike | pd.DataFrame,
    *,
    kind: Literal["table", "ratings"] = "table",
    categories: Sequence[object] | None = None,
) -> FleissKappaResult:
    """Fleiss' (1971) kappa for a fixed number n of raters per item.

    ``kind="table"``: ``data`` is an N items x K categories matrix of counts n_ij with equal
    row sums n. ``kind="ratings"``: ``data`` is N items x n raters of category labels.

    Formulas: ``p_j = sum_i n_ij / (N n)``; ``P_i = (sum_j n_ij^2 - n) / (n (n - 1))``;
    ``P_bar = mean_i P_i``; ``P_e = sum_j p_j^2``; ``kappa = (P_bar - P_e) / (1 - P_e)``.
    Null SE (Fleiss, Nee & Landis 1979): ``sqrt(2) / (sum p_j q_j sqrt(N n (n-1))) *
    sqrt((sum p_j q_j)^2 - sum p_j q_j (q_j - p_j))`` with ``q_j = 1 - p_j``.
    All labels in one category (P_e = 1) -> kappa NaN.
    """
    if kind == "ratings":
        table_df = fleiss_table_from_ratings(data, categories)
    elif kind == "table":
        table_df = data if isinstance(data, pd.DataFrame) else pd.DataFrame(np.asarray(data))
    else:
        raise ValueError("kind must be 'table' or 'ratings'")
    cats = tuple(table_df.columns.tolist())
    table = table_df.to_numpy(dtype=np.float64)
    if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] < 1:
        raise ValueError("the count table must be a non-empty items x categories matrix")
    if np.any(table < 0):
        raise ValueError("counts must be non-negative")
    row_sums = table.sum(axis=1)
    n = row_sums[0]
    if not np.allclose(row_sums, n):
        raise ValueError(
            "Fleiss' kappa needs the same number of raters for every item "
            f"(row sums range {row_sums.min():g}..{row_sums.max():g}); "
            "subsample to a fixed number of ratings per item or use Krippendorff's alpha"
        )
    big_n, k = table.shape
    if n < 2:
        raise ValueError("Fleiss' kappa needs at least 2 raters per item")
    p_j = table.sum(axis=0) / (big_n * n)
    p_i = (np.sum(table**2, axis=1) - n) / (n * (n - 1))
    p_bar = float(p_i.mean())
    p_e = float(np.sum(p_j**2))
    kappa = (p_bar - p_e) / (1.0 - p_e) if p_e < 1.0 else math.nan
    pq = p_j * (1 - p_j)
    spq = float(pq.sum())
    if spq > 0:
        inner = spq**2 - float(np.sum(pq * ((1 - p_j) - p_j)))
        se0 = math.sqrt(2.0) / (spq * math.sqrt(big_n * n * (n - 1))) * math.sqrt(max(inner, 0.0))
    else:
        se0 = math.nan
    z = kappa / se0 if se0 and not math.isnan(se0) else math.nan
    p = float(sps.norm.sf(z)) if not math.isnan(z) else math.nan
    return FleissKappaResult(
        kappa=float(kappa),
        n_items=int(big_n),
        n_raters=int(round(n)),
        n_categories=int(k),
        p_observed=p_bar,
        p_expected=p_e,
        se_null=se0,
        z=z,
        p=p,
        category_proportions=tuple(float(v) for v in p_j),
        categories=cats,
        method="Fleiss' kappa (1971), fixed raters per item; z-test: Fleiss, Nee & Landis (1979)",
    )


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


# --------------------------------------------------------------------------------------
# Cohen's kappa
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class CohensKappaResult(StatResult):
    """Cohen's kappa between two raters (optionally weighted)."""

    kappa: float
    n: int
    n_categories: int
    p_observed: float
    p_expected: float
    weights: str
    method: str


def cohens_kappa(
    rater1: ArrayLike | Sequence[object],
    rater2: ArrayLike | Sequence[object],
    *,
    weights: Literal["linear", "quadratic"] | None = None,
    categories: Sequence[object] | None = None,
) -> CohensKappaResult:
    """Cohen's kappa, unweighted or with linear / quadratic disagreement weights.

    With the K x K table of proportions ``p_ij``, marginals ``p_i.``, ``p_.j`` and
    disagreement weights ``w_ij`` (unweighted: ``1 - [i == j]``; linear:
    ``|i - j| / (K - 1)``; quadratic: ``((i - j) / (K - 1))^2``, i, j = positions in the
    ordered category list): ``kappa = 1 - sum w p / sum w p_i. p_.j``. For unweighted kappa
    ``p_observed = sum p_ii`` and ``p_expected = sum p_i. p_.i``; weighted results report
    ``1 -`` the weighted disagreements. Categories default to the sorted union of both
    raters' labels (so weights follow sort order). Pairs with a missing label are dropped.
    """
    r1 = np.asarray(rater1, dtype=object).ravel()
    r2 = np.asarray(rater2, dtype=object).ravel()
    if r1.size != r2.size:
        raise ValueError("both raters must label the same items")
    keep = ~(pd.isna(r1) | pd.isna(r2))
    r1, r2 = r1[keep], r2[keep]
    cats = list(categories) if categories is not None else sorted(set(r1) | set(r2))
    pos = {c: i for i, c in enumerate(cats)}
    try:
        i1 = np.array([pos[v] for v in r1], dtype=np.intp)
        i2 = np.array([pos[v] for v in r2], dtype=np.intp)
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} not in categories") from None
    k = len(cats)
    n = int(i1.size)
    label = f"Cohen's kappa ({weights or 'unweighted'})"
    if n == 0 or k == 0:
        return CohensKappaResult(math.nan, n, k, math.nan, math.nan, weights or "none", label)
    table = np.zeros((k, k))
    np.add.at(table, (i1, i2), 1.0)
    p = table / n
    expected = np.outer(p.sum(axis=1), p.sum(axis=0))
    idx = np.arange(k)
    if weights is None:
        w = 1.0 - np.eye(k)
    elif weights == "linear":
        w = np.abs(idx[:, None] - idx[None, :]) / max(k - 1, 1)
    elif weights == "quadratic":
        w = ((idx[:, None] - idx[None, :]) / max(k - 1, 1)) ** 2
    else:
        raise ValueError("weights must be None, 'linear' or 'quadratic'")
    obs_dis = float(np.sum(w * p))
    exp_dis = float(np.sum(w * expected))
    kappa = 1.0 - obs_dis / exp_dis if exp_dis > 0 else math.nan
    return CohensKappaResult(
        kappa=kappa,
        n=n,
        n_categories=k,
        p_observed=1.0 - obs_dis,
        p_expected=1.0 - exp_dis,
        weights=weights or "none",
        method=label,
    )


# --------------------------------------------------------------------------------------
# Intraclass correlation
# --------------------------------------------------------------------------------------

ICC_FORMS: tuple[str, ...] = (
    "ICC(1,1)",
    "ICC(2,1)",
    "ICC(3,1)",
    "ICC(1,k)",
    "ICC(2,k)",
    "ICC(3,k)",
)

_ICC_DESCRIPTIONS = {
    "ICC(1,1)": "one-way random effects, absolute agreement, single rater",
    "ICC(2,1)": "two-way random effects, absolute agreement, single rater",
    "ICC(3,1)": "two-way mixed effects, consistency, single rater",
    "ICC(1,k)": "one-way random effects, absolute agreement, mean of k raters",
    "ICC(2,k)": "two-way random effects, absolute agreement, mean of k raters",
    "ICC(3,k)": "two-way mixed effects, consistency, mean of k raters",
}


@dataclasses.dataclass(frozen=True, eq=False)
class ICCResult(StatResult):
    """One Shrout–Fleiss ICC with its F-test against 0 and confidence interval."""

    form: str
    value: float
    F: float
    df1: float
    df2: float
    p: float
    ci_low: float
    ci_high: float
    confidence: float
    n_items: int
    n_raters: int
    method: str


def _canonical_form(form: str, k: int) -> str:
    f = form.replace(" ", "").upper()
    aliases = {
        "ICC1": "ICC(1,1)",
        "ICC2": "ICC(2,1)",
        "ICC3": "ICC(3,1)",
        "ICC1K": "ICC(1,k)",
        "ICC2K": "ICC(2,k)",
        "ICC3K": "ICC(3,k)",
    }
    if f in aliases:
        return aliases[f]
    for m in "123":
        if f == f"ICC({m},1)":
            return f"ICC({m},1)"
        if f in (f"ICC({m},K)", f"ICC({m},{k})"):
            return f"ICC({m},k)"
    raise ValueError(f"unknown ICC form {form!r}; use one of {ICC_FORMS}")


def _icc_anova(x: np.ndarray) -> dict[str, float]:
    n, k = x.shape
    grand = x.mean()
    ss_total = float(np.sum((x - grand) ** 2))
    ss_rows = float(k * np.sum((x.mean(axis=1) - grand) ** 2))
    ss_cols = float(n * np.sum((x.mean(axis=0) - grand) ** 2))
    ss_err = ss_total - ss_rows - ss_cols
    return {
        "msr": ss_rows / (n - 1),
        "msc": ss_cols / (k - 1),
        "mse": ss_err / ((n - 1) * (k - 1)),
        "msw": (ss_cols + ss_err) / (n * (k - 1)),
    }


def _ratio(num: float, den: float) -> float:
    if den == 0:
        return math.nan if num == 0 else math.copysign(math.inf, num)
    return num / den


def icc_all(ratings: ArrayLike | pd.DataFrame, *, confidence: float = 0.95) -> dict[str, ICCResult]:
    """All six Shrout & Fleiss (1979) ICCs, keyed ``"ICC(1,1)" ... "ICC(3,k)"``.

    ``ratings``: n items (targets) x k raters (judges); items with any NaN are dropped.
    Two-way ANOVA mean squares: MSR (items), MSC (raters), MSE (residual),
    MSW = (SS_raters + SS_error) / (n (k - 1)) (within items).

    * ICC(1,1) = (MSR - MSW) / (MSR + (k-1) MSW);  ICC(1,k) = (MSR - MSW) / MSR
    * ICC(2,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n);
      ICC(2,k) = (MSR - MSE) / (MSR + (MSC - MSE) / n)
    * ICC(3,1) = (MSR - MSE) / (MSR + (k-1) MSE);  ICC(3,k) = (MSR - MSE) / MSR

    F-tests of ICC = 0: forms 1: F = MSR/MSW, df = (n-1, n(k-1)); forms 2 and 3:
    F = MSR/MSE, df = (n-1, (n-1)(k-1)); p = P(F' >= F).
    CIs (Shrout & Fleiss 1979; McGraw & Wong 1996): exact F-based for forms 1 and 3,
    Satterthwaite approximation for ICC(2,1), and ICC(2,k) bounds = Spearman–Brown of the
    ICC(2,1) bounds (as in pingouin / R psych; algebraically McGraw & Wong's ICC(A,k)
    interval). Where the ICC(2,1) lower bound falls at or below -1/(k-1) (tiny samples),
    the ICC(2,k) lower bound is -inf (pingouin / psych print a meaningless positive
    number there). For negative ICC(2,1) estimates the Satterthwaite interval can be NaN
    or miss the estimate (as in pingouin); the exact F-based intervals always cover it.
    """
    check_confidence(confidence)
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("ratings must be an items x raters matrix")
    x = x[~np.isnan(x).any(axis=1)]
    n, k = x.shape
    if n < 2 or k < 2:
        raise ValueError("ICC needs at least 2 complete items and 2 raters")
    ms = _icc_anova(x)
    msr, msc, mse, msw = ms["msr"], ms["msc"], ms["mse"], ms["msw"]
    alpha = 1.0 - confidence
    df_r, df_w, df_e = n - 1.0, n * (k - 1.0), (n - 1.0) * (k - 1.0)

    out: dict[str, ICCResult] = {}

    def add(form: str, value: float, f: float, d1: float, d2: float, lo: float, hi: float) -> None:
        p = float(sps.f.sf(f, d1, d2)) if not math.isnan(f) else math.nan
        out[form] = ICCResult(
            form=form,
            value=float(value),
            F=float(f),
            df1=d1,
            df2=d2,
            p=p,
            ci_low=float(lo),
            ci_high=float(hi),
            confidence=confidence,
            n_items=n,
            n_raters=k,
            method=f"{form.replace(',k)', f',{k})')} Shrout–Fleiss: {_ICC_DESCRIPTIONS[form]}",
        )

    # one-way
    f1 = _ratio(msr, msw)
    fl = f1 / sps.f.ppf(1 - alpha / 2, df_r, df_w)
    fu = f1 * sps.f.ppf(1 - alpha / 2, df_w, df_r)
    add(
        "ICC(1,1)",
        _ratio(msr - msw, msr + (k - 1) * msw),
        f1,
        df_r,
        df_w,
        (fl - 1) / (fl + k - 1),
        (fu - 1) / (fu + k - 1),
    )
    # two-way random (absolute agreement), single
    f23 = _ratio(msr, mse)
    icc21 = _ratio(msr - mse, msr + (k - 1) * mse + k * (msc - mse) / n)
    a = k * icc21 / (n * (1 - icc21)) if icc21 != 1 else math.nan
    b = 1 + k * icc21 * (n - 1) / (n * (1 - icc21)) if icc21 != 1 else math.nan
    v_den = (a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / df_e
    v = (a * msc + b * mse) ** 2 / v_den if v_den > 0 else math.nan
    if math.isnan(v):
        lo21 = hi21 = math.nan
    else:
        f_star = sps.f.ppf(1 - alpha / 2, df_r, v)
        f_star2 = sps.f.ppf(1 - alpha / 2, v, df_r)
        with np.errstate(invalid="ignore", divide="ignore"):  # tiny v: F quantiles inf
            lo21 = n * (msr - f_star * mse) / (f_star * (k * msc + (k * n - k - n) * mse) + n * msr)
            hi21 = n * (f_star2 * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_star2 * msr)
    add("ICC(2,1)", icc21, f23, df_r, df_e, lo21, hi21)
    # two-way mixed (consistency), single
    fl3 = f23 / sps.f.ppf(1 - alpha / 2, df_r, df_e)
    fu3 = f23 * sps.f.ppf(1 - alpha / 2, df_e, df_r)
    add(
        "ICC(3,1)",
        _ratio(msr - mse, msr + (k - 1) * mse),
        f23,
        df_r,
        df_e,
        (fl3 - 1) / (fl3 + k - 1),
        (fu3 - 1) / (fu3 + k - 1),
    )
    add("ICC(1,k)", _ratio(msr - msw, msr), f1, df_r, df_w, 1 - 1 / fl, 1 - 1 / fu)

    def sb(r: float) -> float:
        # Spearman-Brown is increasing on r > -1/(k-1) and -> -inf at that pole; a single-
        # rater bound at or below it means the average-measure bound is unbounded.
        if math.isnan(r):
            return math.nan
        if r <= -1.0 / (k - 1):
            return -math.inf
        return k * r / (1 + (k - 1) * r)

    add(
        "ICC(2,k)",
        _ratio(msr - mse, msr + (msc - mse) / n),
        f23,
        df_r,
        df_e,
        sb(lo21),
        sb(hi21),
    )
    add("ICC(3,k)", _ratio(msr - mse, msr), f23, df_r, df_e, 1 - 1 / fl3, 1 - 1 / fu3)
    return {form: out[form] for form in ICC_FORMS}


def icc(
    ratings: ArrayLike | pd.DataFrame,
    form: str = "ICC(2,1)",
    *,
    confidence: float = 0.95,
) -> ICCResult:
    """One Shrout–Fleiss ICC; ``form`` is e.g. ``"ICC(2,1)"``, ``"ICC(3,k)"`` or, with k=4
    raters, ``"ICC(3,4)"`` (aliases ``"ICC2"``, ``"ICC3k"`` ... accepted). See
    :func:`icc_all` for formulas.
    """
    x = np.asarray(ratings, dtype=np.float64)
    k = x.shape[1] if x.ndim == 2 else 0
    return icc_all(x, confidence=confidence)[_canonical_form(form, k)]
