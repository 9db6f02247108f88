"""Kappa coefficients: Fleiss' kappa and the free-marginal (Randolph / Brennan–Prediger)
kappa for many raters, Cohen's kappa with its asymptotic SE for two.

Cohen's kappa, its large-sample SEs (Fleiss, Cohen & Everitt 1969), z and interval come
from statsmodels (``statsmodels.stats.inter_rater.cohens_kappa``). Fleiss' kappa is
written out here because the tables report what statsmodels' ``fleiss_kappa`` does not
return (the observed and expected agreement, the category shares and the Fleiss, Nee &
Landis 1979 null SE); the tests check the coefficient against statsmodels.
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
from statsmodels.stats.inter_rater import cohens_kappa as _sm_cohens_kappa

from ._base import StatResult, check_confidence

__all__ = [
    "CohensKappaResult",
    "FleissKappaResult",
    "FreeMarginalKappaResult",
    "cohens_kappa",
    "fleiss_kappa",
    "fleiss_table_from_long",
    "fleiss_table_from_ratings",
    "free_marginal_kappa",
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


def _count_table(
    data: ArrayLike | pd.DataFrame, kind: str, categories: Sequence[object] | None
) -> tuple[np.ndarray, tuple[object, ...], float]:
    """(items x categories counts, categories, raters per item), checked: the same number
    (>= 2) of raters for every item."""
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
    n = float(row_sums[0])
    if not np.allclose(row_sums, n):
        raise ValueError(
            "Fleiss' kappa needs the same number of raters for every item "
            f"(row sums range {row_sums.min():g}..{row_sums.max():g}); "
            "subsample to a fixed number of ratings per item or use Krippendorff's alpha"
        )
    if n < 2:
        raise ValueError("Fleiss' kappa needs at least 2 raters per item")
    return table, cats, n


def _mean_item_agreement(table: np.ndarray, n: float) -> float:
    """P-bar: the mean over items of the share of agreeing rater pairs."""
    return float(((np.sum(table**2, axis=1) - n) / (n * (n - 1))).mean())


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
    table, cats, n = _count_table(data, kind, categories)
    big_n, k = table.shape
    p_j = table.sum(axis=0) / (big_n * n)
    p_bar = _mean_item_agreement(table, n)
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


@dataclasses.dataclass(frozen=True, eq=False)
class FreeMarginalKappaResult(StatResult):
    """Free-marginal multirater kappa: chance agreement 1/K for K categories offered."""

    kappa: float
    n_items: int
    n_raters: int
    n_categories: int
    p_observed: float
    p_expected: float
    method: str


def free_marginal_kappa(
    data: ArrayLike | pd.DataFrame,
    *,
    kind: Literal["table", "ratings"] = "table",
    categories: Sequence[object] | None = None,
) -> FreeMarginalKappaResult:
    """Free-marginal kappa (Brennan & Prediger 1981; Randolph 2005) for n raters per item.

    ``kappa = (P_bar - 1/K) / (1 - 1/K)`` with Fleiss' ``P_bar`` and K = the number of
    categories the raters could choose from: the table's columns (pass ``categories`` with
    ratings, so unused categories count). For raters not bound to fill fixed category
    quotas; unlike Fleiss' kappa it does not fall when one category dominates. Same input
    as :func:`fleiss_kappa`.
    """
    table, _, n = _count_table(data, kind, categories)
    big_n, k = table.shape
    p_bar = _mean_item_agreement(table, n)
    p_e = 1.0 / k
    kappa = (p_bar - p_e) / (1.0 - p_e) if k >= 2 else math.nan
    return FreeMarginalKappaResult(
        kappa=float(kappa),
        n_items=int(big_n),
        n_raters=int(round(n)),
        n_categories=int(k),
        p_observed=p_bar,
        p_expected=p_e,
        method=(
            f"free-marginal kappa (Brennan & Prediger 1981; Randolph 2005), chance "
            f"agreement 1/K, K = {k} categories"
        ),
    )


# --------------------------------------------------------------------------------------
# Cohen's kappa
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class CohensKappaResult(StatResult):
    """Cohen's kappa between two raters (optionally weighted), with its large-sample SE.

    ``se``: asymptotic SE of kappa (Fleiss, Cohen & Everitt 1969), which gives the Wald
    interval ``ci_low``..``ci_high`` (two-sided, ``confidence``); ``se_null``: the SE under
    kappa = 0, which gives ``z = kappa / se_null`` and the one-sided ``p`` (H1: kappa > 0),
    as statsmodels, SAS PROC FREQ and R ``vcd::Kappa`` report them.
    """

    kappa: float
    n: int
    n_categories: int
    p_observed: float
    p_expected: float
    weights: str
    se: float
    se_null: float
    z: float
    p: float
    ci_low: float
    ci_high: float
    confidence: float
    method: str


def _disagreement_weights(k: int, weights: str | None) -> np.ndarray:
    idx = np.arange(k)
    if weights is None:
        return 1.0 - np.eye(k)
    if weights == "linear":
        return np.abs(idx[:, None] - idx[None, :]) / max(k - 1, 1)
    if weights == "quadratic":
        return ((idx[:, None] - idx[None, :]) / max(k - 1, 1)) ** 2
    raise ValueError("weights must be None, 'linear' or 'quadratic'")


def cohens_kappa(
    rater1: ArrayLike | Sequence[object],
    rater2: ArrayLike | Sequence[object],
    *,
    weights: Literal["linear", "quadratic"] | None = None,
    categories: Sequence[object] | None = None,
    confidence: float = 0.95,
) -> CohensKappaResult:
    """Cohen's kappa, unweighted or with linear / quadratic disagreement weights.

    With the K x K table of proportions ``p_ij``, marginals ``p_i.``, ``p_.j`` and
    disagreement weights ``w_ij`` (unweighted: ``1 - [i == j]``; linear:
    ``|i - j| / (K - 1)``; quadratic: ``((i - j) / (K - 1))^2``, i, j = positions in the
    ordered category list): ``kappa = 1 - sum w p / sum w p_i. p_.j``. For unweighted kappa
    ``p_observed = sum p_ii`` and ``p_expected = sum p_i. p_.i``; weighted results report
    ``1 -`` the weighted disagreements. Categories default to the sorted union of both
    raters' labels (so weights follow sort order). Pairs with a missing label are dropped.
    kappa, its SEs (Fleiss, Cohen & Everitt 1969), z and p: statsmodels' ``cohens_kappa``.
    """
    check_confidence(confidence)
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
    w = _disagreement_weights(k, weights)
    label = (
        f"Cohen's kappa ({weights or 'unweighted'}); asymptotic SE (Fleiss, Cohen & Everitt "
        f"1969), Wald {confidence:.0%} interval, one-sided z-test of kappa = 0"
    )
    nan = math.nan
    table = np.zeros((k, k))
    np.add.at(table, (i1, i2), 1.0)
    p = table / n if n else table
    expected = np.outer(p.sum(axis=1), p.sum(axis=0))
    obs_dis = float(np.sum(w * p))
    exp_dis = float(np.sum(w * expected))
    if n == 0 or k == 0 or exp_dis <= 0:
        return CohensKappaResult(
            kappa=nan,
            n=n,
            n_categories=k,
            p_observed=1.0 - obs_dis if n and k else nan,
            p_expected=1.0 - exp_dis if n and k else nan,
            weights=weights or "none",
            se=nan,
            se_null=nan,
            z=nan,
            p=nan,
            ci_low=nan,
            ci_high=nan,
            confidence=confidence,
            method=label,
        )
    # statsmodels takes disagreement weights (max 1) as a K x K matrix
    with np.errstate(divide="ignore", invalid="ignore"):  # SE 0 under H0: z NaN below
        res = _sm_cohens_kappa(table, weights=None if weights is None else w)
    se, se0 = float(res["std_kappa"]), float(res["std_kappa0"])
    kappa = float(res["kappa"])
    half = float(sps.norm.ppf(0.5 + confidence / 2)) * se
    z = kappa / se0 if se0 > 0 else nan
    return CohensKappaResult(
        kappa=kappa,
        n=n,
        n_categories=k,
        p_observed=1.0 - obs_dis,
        p_expected=1.0 - exp_dis,
        weights=weights or "none",
        se=se,
        se_null=se0,
        z=z,
        p=float(sps.norm.sf(z)) if not math.isnan(z) else nan,
        ci_low=kappa - half,
        ci_high=kappa + half,
        confidence=confidence,
        method=label,
    )
