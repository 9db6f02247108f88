"""Intraclass correlations: the six Shrout & Fleiss (1979) forms from the two-way ANOVA
of a complete items x raters matrix, and the two-way random-effects ICC of a design with
missing cells from variance components (:func:`icc_variance_components`).

Why hand-written: the Shrout–Fleiss forms and their F-based intervals are a few lines of
ANOVA (pingouin, which has them, is not a dependency; the tests check them against the
published Shrout & Fleiss example and a by-hand ANOVA). No library has the moment
estimator for crossed designs with missing cells, and a mixed model fitted by REML
(statsmodels MixedLM with crossed variance components) builds dense design matrices with
a column per item and per rater: 31 s for one dimension of the EmPO-size benchmark study
against 0.03 s here (ICC 0.215 vs 0.210; measured on the shared 2-core machine), and out
of memory at 100x. The design note ``analysis/stats/icc.md`` derives the estimator; the
tests compare it with MixedLM.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse
from scipy import stats as sps
from scipy.sparse import csgraph
from scipy.sparse.linalg import cg

from ._base import StatResult, check_confidence

__all__ = [
    "ICC_FORMS",
    "ICCResult",
    "VarianceComponentsICCResult",
    "icc",
    "icc_all",
    "icc_variance_components",
]


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


# no variation (MSE = 0): F is inf and its bounds inf/inf, NaN in the result, not a warning
@np.errstate(invalid="ignore", divide="ignore")
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


# --------------------------------------------------------------------------------------
# Two-way random effects with missing cells: variance components
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class VarianceComponentsICCResult(StatResult):
    """ICC(A,1) and ICC(A,k) of a two-way random-effects design with missing cells.

    Model: ``y = mu + a_item + b_rater + e`` with independent ``a ~ (0, var_items)``,
    ``b ~ (0, var_raters)``, ``e ~ (0, var_residual)``. ``icc_single`` =
    ``var_items / (var_items + var_raters + var_residual)`` (absolute agreement of one
    rating, the estimand of Shrout–Fleiss ICC(2,1)); ``icc_average`` = the same for the
    mean of ``k`` ratings, ``k`` = the harmonic mean of the ratings per item.
    ``ci_low`` / ``ci_high``: approximate interval of ``icc_single`` at ``confidence``
    (McGraw & Wong's ICC(A,1) interval with Satterthwaite df, generalised to the moment
    estimator's mean squares; exactly Shrout–Fleiss' on complete data);
    ``ci_average_low`` / ``ci_average_high``: its Spearman–Brown transform for ``k``.
    ``n_components``: connected groups of items and raters (raters who share no item with
    each other, directly or through others, cannot be compared).
    """

    icc_single: float
    icc_average: float
    k: float
    var_items: float
    var_raters: float
    var_residual: float
    n_items: int
    n_raters: int
    n_ratings: int
    n_components: int
    ci_low: float
    ci_high: float
    method: str
    ci_average_low: float
    ci_average_high: float
    confidence: float


def _spearman_brown(r: float, k: float) -> float:
    """The ICC of the mean of k ratings from one rating's; increasing on r > -1/(k-1)
    with a pole there: a single-rating bound at or below it means an unbounded bound."""
    if math.isnan(r):
        return math.nan
    if r <= -1.0 / (k - 1.0):
        return -math.inf
    return k * r / (1.0 + (k - 1.0) * r)


def _interval_general(
    ms: tuple[float, float, float],
    df: tuple[float, float, float],
    coef: tuple[float, float, float],
    icc_hat: float,
    confidence: float,
) -> tuple[float, float]:
    """McGraw & Wong's (1996) ICC(A,1) interval for general mean-square expectations.

    ``ms`` = (MS_items, MS_raters, MS_error) with expectations ``s_e + c_a s_a + c_ab s_b``,
    ``s_e + c_b s_b`` and ``s_e``; ``coef`` = (c_a, c_ab, c_b); ``df`` their degrees of
    freedom. Under ICC = rho, E[MS_items] = a E[MS_raters] + b E[MS_error] with a, b
    linear in r = rho / (1 - rho); MS_items / (a MS_raters + b MS_error) is referred to F
    with Satterthwaite's denominator df (a, b at the estimate) and solved for rho. On a
    complete matrix (c_a = k, c_ab = 0, c_b = n) these are McGraw & Wong's formulas.
    """
    msr, msc, mse = ms
    df_r, df_c, df_e = df
    c_a, c_ab, c_b = coef
    if not (math.isfinite(icc_hat) and icc_hat < 1.0 and c_a > 0 and c_b > 0):
        return math.nan, math.nan
    r_hat = icc_hat / (1.0 - icc_hat)
    a = (c_ab + c_a * r_hat) / c_b
    b = 1.0 + c_a * r_hat - a
    v_den = (a * msc) ** 2 / df_c + (b * mse) ** 2 / df_e
    v = (a * msc + b * mse) ** 2 / v_den if v_den > 0 else math.nan
    if not math.isfinite(v) or v <= 0:
        return math.nan, math.nan
    alpha = 1.0 - confidence
    f_lo = float(sps.f.ppf(1.0 - alpha / 2.0, df_r, v))
    f_hi = float(sps.f.ppf(1.0 - alpha / 2.0, v, df_r))
    # E[MS_items] = base + r * slope in the observed mean squares
    base = mse + c_ab / c_b * (msc - mse)
    slope = c_a * (msc / c_b + mse * (1.0 - 1.0 / c_b))

    def rho(target: float) -> float:
        if not math.isfinite(target) or slope <= 0:
            return math.nan
        r = (target - base) / slope
        return r / (1.0 + r) if r != -1.0 else math.nan

    return rho(msr / f_lo), rho(msr * f_hi)


def _solve_spd(a: sparse.csr_matrix, b: np.ndarray) -> np.ndarray:
    """``a x = b`` for the symmetric positive definite rater system: conjugate gradients
    with a Jacobi preconditioner. A sparse LU fills in on the well-mixed rater graphs of
    crowdsourced designs (minutes at 13,500 raters); CG needs a few dozen products."""
    if b.size == 0:
        return b.copy()
    diag = a.diagonal()
    precond = sparse.diags(1.0 / diag)
    x, info = cg(a, b, rtol=1e-13, atol=0.0, maxiter=20 * b.size + 100, M=precond)
    if info != 0:
        raise ValueError("the rater equations did not converge")
    return np.asarray(x, dtype=np.float64)


def icc_variance_components(
    items: ArrayLike, raters: ArrayLike, values: ArrayLike, *, confidence: float = 0.95
) -> VarianceComponentsICCResult:
    """Two-way random-effects ICC from variance components, for designs with missing cells.

    One rating per (item, rater) (average duplicates first); NaN values are dropped. The
    components come from three quadratic forms with known expectations (an ANOVA-type
    moment estimator in the manner of Henderson 1953; Searle, Casella & McCulloch 1992,
    ch. 5), N ratings, I items, J raters, c connected components, ``n_i`` / ``n_j`` ratings
    per item / rater:

    * ``SSE`` (residual of the additive items + raters least-squares fit):
      ``E = (N - I - J + c) s_e``
    * ``R(raters | items) = SS_within_items - SSE``: ``E = (J - c) s_e + (N - I) s_b``
    * ``SS_items = sum n_i (ybar_i - ybar)^2``:
      ``E = (I - 1) s_e + (N - sum n_i^2 / N) s_a + (I - sum n_j^2 / N) s_b``

    solved for ``s_e, s_b, s_a`` (not truncated at 0, like the ANOVA ICCs). On a complete
    items x raters matrix this is exactly Shrout–Fleiss ICC(2,1) and ICC(2,k), and so is
    the interval (:func:`_interval_general`: the three forms as mean squares; an
    approximation with missing cells, where they are not independent scaled chi-squares:
    the tests measure its coverage). Raises
    ValueError when the design cannot separate the components (no item with two ratings,
    no rater with two items, or no residual degrees of freedom).
    """
    check_confidence(confidence)
    y = np.asarray(values, dtype=np.float64).ravel()
    keep = ~np.isnan(y)
    # hash-based codes: np.unique sorts, which on text ids costs seconds at 100x EmPO size
    item_idx, item_codes = pd.factorize(np.asarray(items).ravel()[keep])
    rater_idx, rater_codes = pd.factorize(np.asarray(raters).ravel()[keep])
    y = y[keep]
    big_n, n_items, n_raters = int(y.size), int(item_codes.size), int(rater_codes.size)
    cells = item_idx.astype(np.int64) * max(n_raters, 1) + rater_idx
    if np.unique(cells).size != big_n:
        raise ValueError("one rating per (item, rater) expected: average duplicates first")
    n_i = np.bincount(item_idx, minlength=n_items).astype(np.float64)
    n_j = np.bincount(rater_idx, minlength=n_raters).astype(np.float64)
    incidence = sparse.csr_matrix(
        (np.ones(big_n), (item_idx, rater_idx)), shape=(n_items, n_raters)
    )
    graph = sparse.bmat([[None, incidence], [incidence.T, None]])
    n_comp, labels = csgraph.connected_components(graph, directed=False)
    df_e = big_n - n_items - n_raters + n_comp
    if big_n - n_items <= 0 or n_raters - n_comp <= 0 or df_e <= 0:
        raise ValueError(
            "the design cannot separate item, rater and residual variance (it needs items "
            "with two ratings, raters with two items and residual degrees of freedom)"
        )
    grand = float(y.mean())
    item_mean = np.bincount(item_idx, weights=y, minlength=n_items) / n_i
    within = y - item_mean[item_idx]
    ss_within = float(within @ within)
    ss_items = float(n_i @ (item_mean - grand) ** 2)
    # rater effects after absorbing the items: C beta = q, one rater per component fixed
    c_mat = sparse.diags(n_j) - incidence.T @ sparse.diags(1.0 / n_i) @ incidence
    q = np.bincount(rater_idx, weights=within, minlength=n_raters)
    rater_comp = labels[n_items:]
    first = np.unique(rater_comp, return_index=True)[1]
    free = np.setdiff1d(np.arange(n_raters), first)
    sub = sparse.csr_matrix(c_mat)[free][:, free]
    beta = _solve_spd(sub, q[free])
    reduction = float(beta @ q[free])
    sse = ss_within - reduction
    var_e = sse / df_e
    var_b = (reduction - (n_raters - n_comp) * var_e) / (big_n - n_items)
    k_aa = big_n - float(n_i @ n_i) / big_n
    k_ab = n_items - float(n_j @ n_j) / big_n
    var_a = (ss_items - (n_items - 1) * var_e - k_ab * var_b) / k_aa if k_aa > 0 else math.nan
    k = float(n_items / np.sum(1.0 / n_i))
    total = var_a + var_b + var_e
    single = var_a / total if total > 0 else math.nan
    den = var_a + (var_b + var_e) / k
    average = var_a / den if den > 0 else math.nan
    lo, hi = _interval_general(
        (
            ss_items / (n_items - 1) if n_items > 1 else math.nan,
            reduction / (n_raters - n_comp),
            var_e,
        ),
        (n_items - 1.0, float(n_raters - n_comp), float(df_e)),
        (
            k_aa / (n_items - 1) if n_items > 1 else math.nan,
            k_ab / (n_items - 1) if n_items > 1 else math.nan,
            (big_n - n_items) / (n_raters - n_comp),
        ),
        float(single),
        confidence,
    )
    return VarianceComponentsICCResult(
        icc_single=float(single),
        icc_average=float(average),
        k=k,
        var_items=float(var_a),
        var_raters=float(var_b),
        var_residual=float(var_e),
        n_items=n_items,
        n_raters=n_raters,
        n_ratings=big_n,
        n_components=int(n_comp),
        ci_low=float(lo),
        ci_high=float(hi),
        method=(
            "two-way random effects, absolute agreement, from variance components "
            "(ANOVA-type moment estimator, missing cells allowed); approximate F-based "
            "interval (McGraw–Wong with Satterthwaite df on the estimator's mean squares)"
        ),
        ci_average_low=_spearman_brown(float(lo), k) if k > 1 else math.nan,
        ci_average_high=_spearman_brown(float(hi), k) if k > 1 else math.nan,
        confidence=confidence,
    )
