"""Significance tests: t-tests, permutation tests, sign/binomial tests, multiple comparisons.

Conventions (all functions):

* ``alternative`` is one of ``"two-sided"``, ``"greater"``, ``"less"`` and always refers to
  ``a - b``: ``"greater"`` means H1: mean(a) > mean(b) (or, for preferences, A preferred).
* Permutation tests are vectorised: resamples are drawn as a matrix, in chunks of at most
  ``_base.CHUNK_BYTES`` bytes, never with a Python loop per resample.
* Monte-Carlo permutation p-values use ``(b + 1) / (m + 1)`` (b = resamples at least as
  extreme as observed, m = resamples; Phipson & Smyth 2010), so p is never 0. When the full
  permutation set is no larger than ``n_resamples`` (or ``exact=True``) it is enumerated
  and ``p = b / M`` over all M permutations (identity included), as scipy does.

Why one module of ~1,000 lines: every test here shares the conventions above and the
chunked resampling engine, and the paired, two-sample and preference tests are checked
against each other. It is due to shrink and split when the tests that scipy/statsmodels
compute move onto them (the issue "Statistics a reviewer cannot fault"), leaving the
vectorised permutation engine, which no library has in this form.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from ._base import (
    Alternative,
    SeedLike,
    StatResult,
    as_1d,
    check_alternative,
    check_confidence,
    chunk_rows,
    make_rng,
    ratio_or_signed_inf,
    sample_var,
    seed_label,
    t_interval,
    t_pvalue,
    tie_tolerance,
)

__all__ = [
    "TTestResult",
    "PermutationTestResult",
    "BinomialTestResult",
    "SignTestResult",
    "CorrectionResult",
    "paired_t_test",
    "welch_t_test",
    "student_t_test",
    "two_sample_t_test",
    "paired_permutation_test",
    "paired_permutation_tests",
    "two_sample_permutation_test",
    "two_sample_permutation_tests",
    "binomial_test",
    "sign_test",
    "sign_test_counts",
    "bonferroni",
    "holm",
    "adjust_pvalues",
    "preference_scores",
]

_SIDE = {
    "two-sided": "two-sided",
    "greater": "one-sided (greater)",
    "less": "one-sided (less)",
}


# --------------------------------------------------------------------------------------
# t-tests
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class TTestResult(StatResult):
    """Result of a t-test on ``a - b``.

    ``n`` is the number of pairs (paired test) or ``n_a + n_b`` (two-sample tests).
    ``ci_low``/``ci_high`` bound the mean difference ``mean_a - mean_b`` (one-sided bounds
    for one-sided alternatives, like scipy's ``confidence_interval``).
    """

    t: float
    df: float
    p: float
    mean_a: float
    mean_b: float
    mean_diff: float
    se: float
    n: int
    n_a: int
    n_b: int
    ci_low: float
    ci_high: float
    confidence: float
    alternative: str
    method: str


def paired_t_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> TTestResult:
    """Paired (dependent-samples) t-test on the differences ``d = a - b``.

    Formula: ``t = mean(d) / (sd(d) / sqrt(n))`` with ``sd`` the sample SD (ddof=1) and
    ``df = n - 1``. Pairs where either value is NaN are dropped (listwise).

    Variant label: ``"paired t-test, <two-sided | one-sided (greater) | one-sided (less)>"``.
    Edge cases: n < 2 -> t, df, p NaN. Zero variance of d: t = +/-inf (p = 0 or 1) when the
    constant difference is non-zero, NaN when it is zero.
    """
    check_alternative(alternative)
    check_confidence(confidence)
    xa, xb = as_1d(a, "a"), as_1d(b, "b")
    if xa.shape != xb.shape:
        raise ValueError("paired samples must have the same length")
    keep = ~(np.isnan(xa) | np.isnan(xb))
    xa, xb = xa[keep], xb[keep]
    d = xa - xb
    n = int(d.size)
    mean_a = float(xa.mean()) if n else math.nan
    mean_b = float(xb.mean()) if n else math.nan
    mean_diff = float(d.mean()) if n else math.nan
    df = float(n - 1) if n >= 2 else math.nan
    se = math.sqrt(sample_var(d) / n) if n >= 2 else math.nan
    t = ratio_or_signed_inf(mean_diff, se)
    p = t_pvalue(t, df, alternative) if n >= 2 else math.nan
    lo, hi = _ci(mean_diff, se, df, confidence, alternative)
    return TTestResult(
        t=t,
        df=df,
        p=p,
        mean_a=mean_a,
        mean_b=mean_b,
        mean_diff=mean_diff,
        se=se,
        n=n,
        n_a=n,
        n_b=n,
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        alternative=alternative,
        method=f"paired t-test, {_SIDE[alternative]}",
    )


def _ci(
    est: float, se: float, df: float, confidence: float, alternative: str
) -> tuple[float, float]:
    if se == 0.0 and not math.isnan(est):
        if alternative == "greater":
            return est, math.inf
        if alternative == "less":
            return -math.inf, est
        return est, est
    return t_interval(est, se, df, confidence, alternative)


def two_sample_t_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    equal_var: bool = False,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> TTestResult:
    """Independent two-sample t-test of ``mean(a) - mean(b)``; NaNs are dropped per sample.

    * ``equal_var=False`` (default), Welch: ``t = (ma - mb) / sqrt(va/na + vb/nb)``,
      Welch–Satterthwaite ``df = (va/na + vb/nb)^2 / ((va/na)^2/(na-1) + (vb/nb)^2/(nb-1))``.
    * ``equal_var=True``, Student: pooled ``sp^2 = ((na-1) va + (nb-1) vb) / (na + nb - 2)``,
      ``t = (ma - mb) / (sp sqrt(1/na + 1/nb))``, ``df = na + nb - 2``.

    ``va``, ``vb`` are sample variances (ddof=1). Welch needs n >= 2 in both groups,
    Student n >= 1 in both and na + nb >= 3; otherwise the result is NaN. When the standard
    error is 0, t is +/-inf (p = 0 or 1) or NaN if the means are equal; Welch df is then NaN.
    """
    check_alternative(alternative)
    check_confidence(confidence)
    xa, xb = as_1d(a, "a"), as_1d(b, "b")
    xa, xb = xa[~np.isnan(xa)], xb[~np.isnan(xb)]
    na, nb = int(xa.size), int(xb.size)
    mean_a = float(xa.mean()) if na else math.nan
    mean_b = float(xb.mean()) if nb else math.nan
    mean_diff = mean_a - mean_b
    if equal_var:
        name = "Student two-sample t-test (pooled variance)"
        if na >= 1 and nb >= 1 and na + nb >= 3:
            ss = (na - 1) * (sample_var(xa) if na > 1 else 0.0) + (nb - 1) * (
                sample_var(xb) if nb > 1 else 0.0
            )
            df = float(na + nb - 2)
            sp2 = ss / df
            se = math.sqrt(sp2 * (1.0 / na + 1.0 / nb))
        else:
            df, se = math.nan, math.nan
    else:
        name = "Welch two-sample t-test (unequal variances)"
        if na >= 2 and nb >= 2:
            va, vb = sample_var(xa) / na, sample_var(xb) / nb
            se = math.sqrt(va + vb)
            denom = va**2 / (na - 1) + vb**2 / (nb - 1)
            df = (va + vb) ** 2 / denom if denom > 0 else math.nan
        else:
            df, se = math.nan, math.nan
    t = ratio_or_signed_inf(mean_diff, se)
    p = t_pvalue(t, df, alternative) if not math.isnan(se) else math.nan
    lo, hi = _ci(mean_diff, se, df, confidence, alternative)
    return TTestResult(
        t=t,
        df=df,
        p=p,
        mean_a=mean_a,
        mean_b=mean_b,
        mean_diff=mean_diff,
        se=se,
        n=na + nb,
        n_a=na,
        n_b=nb,
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        alternative=alternative,
        method=f"{name}, {_SIDE[alternative]}",
    )


def welch_t_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> TTestResult:
    """Welch's unequal-variance t-test; see :func:`two_sample_t_test` (``equal_var=False``)."""
    return two_sample_t_test(a, b, equal_var=False, alternative=alternative, confidence=confidence)


def student_t_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> TTestResult:
    """Student's pooled-variance t-test; see :func:`two_sample_t_test` (``equal_var=True``)."""
    return two_sample_t_test(a, b, equal_var=True, alternative=alternative, confidence=confidence)


# --------------------------------------------------------------------------------------
# Permutation tests
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class PermutationTestResult(StatResult):
    """Result of a permutation test.

    ``statistic`` is the observed mean difference (paired: mean of ``a - b``; two-sample:
    ``mean(a) - mean(b)``). ``n_resamples`` is the number of random resamples m (Monte
    Carlo, ``p = (b+1)/(m+1)``) or, when ``exact``, the number of enumerated permutations M
    (``p = b/M``). ``seed`` is the int seed given (None for None or a Generator).
    """

    statistic: float
    p: float
    n_resamples: int
    exact: bool
    seed: int | None
    alternative: str
    n: int
    n_a: int
    n_b: int
    method: str


def _count_extreme(
    null: np.ndarray, observed: np.ndarray, gamma: np.ndarray, alternative: str
) -> np.ndarray:
    """Per column: how many rows of ``null`` are at least as extreme as ``observed``.

    ``null`` is (rows, k); ``observed`` and ``gamma`` are (k,).
    """
    if alternative == "greater":
        hits = null >= observed - gamma
    elif alternative == "less":
        hits = null <= observed + gamma
    else:
        hits = np.abs(null) >= np.abs(observed) - gamma
    return hits.sum(axis=0)


_LUT_BLOCK = 64  # byte positions per gather block: 64 x 256 x 8 B = 128 KB of table
_BIT_TABLE = ((np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1).astype(np.float64)


def _signflip_sum_chunks(
    diffs: np.ndarray,
    n_resamples: int,
    rng: np.random.Generator | None,
    exact: bool,
    chunk_bytes: int | None = None,
) -> Iterator[np.ndarray]:
    """Yield chunks (rows, k) of sign-flipped sums ``sum_i s_i d_ji`` for k rows of ``diffs``.

    Signs come as random bytes, 8 signs per byte. For each byte position j a 256-entry
    table holds the sum of the 8 differences whose bits are set, so a resample costs n/8
    table look-ups instead of n multiplications (``s = 1 - 2*bit`` and
    ``sum s d = sum d - 2 * sum_{bit set} d``). With ``exact=True`` all 2^n sign vectors
    are enumerated (the integers 0 .. 2^n - 1 as bit patterns).
    """
    k, n = diffs.shape
    nbytes = (n + 7) // 8
    padded = np.zeros((k, nbytes * 8))
    padded[:, :n] = diffs
    lut = (padded.reshape(k, nbytes, 8) @ _BIT_TABLE.T).reshape(k, nbytes * 256)
    offsets = (np.arange(nbytes, dtype=np.intp) * 256)[None, :]
    totals = diffs.sum(axis=1)
    total_rows = 2**n if exact else n_resamples
    rows = chunk_rows(max(nbytes, _LUT_BLOCK * 16), total_rows, chunk_bytes)
    for start in range(0, total_rows, rows):
        stop = min(total_rows, start + rows)
        if exact:
            codes = np.arange(start, stop, dtype="<u8")
            byte_mat = codes.view(np.uint8).reshape(-1, 8)[:, :nbytes]
        else:
            assert rng is not None
            byte_mat = rng.integers(0, 256, size=(stop - start, nbytes), dtype=np.uint8)
        flipped = np.zeros((stop - start, k))
        # Column blocks keep the touched part of each table (block x 256 x 8 bytes) in
        # cache; for large n this is several times faster than one big gather.
        for c0 in range(0, nbytes, _LUT_BLOCK):
            idx = byte_mat[:, c0 : c0 + _LUT_BLOCK] + offsets[:, c0 : c0 + _LUT_BLOCK]
            for j in range(k):  # loop over comparisons and column blocks, not resamples
                flipped[:, j] += lut[j][idx].sum(axis=1)
        yield totals[None, :] - 2.0 * flipped


#: Count-based Monte-Carlo paths are used when ``distinct values * ratio <= n``. The
#: ratios are rough break-even points measured with numpy 2.4 on one core: a binomial
#: draw costs ~150 ns vs ~4 ns per sign-table look-up (8 signs); a hypergeometric value
#: ~110 ns vs ~9 ns per element of the random-subset path.
_SIGNFLIP_DISTINCT_RATIO = 256
_SPLIT_DISTINCT_RATIO = 8
_COUNTS_NOTE = " (resamples drawn as counts per distinct value)"


def _check_resamples(n_resamples: int) -> int:
    if int(n_resamples) < 1:
        raise ValueError("n_resamples must be >= 1")
    return int(n_resamples)


def paired_permutation_tests(
    diffs: ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    n_resamples: int = 10_000,
    seed: SeedLike = None,
    exact: bool | None = None,
) -> list[PermutationTestResult]:
    """Sign-flip permutation tests for k comparisons of equal n sharing one sign matrix.

    ``diffs`` is a (k, n) matrix of paired differences ``a - b`` (no NaN; drop incomplete
    pairs before). Statistic: mean difference ``T = sum(d) / n``. Under H0 (differences
    symmetric about 0) each sign vector ``s`` is equally likely and ``T* = sum(s d) / n``.
    All k comparisons use the same random signs (saves generating them k times; the
    tests stay valid individually).

    Fast path for discrete data with large n (Likert ratings): when a row has few
    distinct non-zero ``|d|`` values (at most n/256), the flipped sum is drawn from its
    exact distribution ``sum_u u (2 X_u - c_u)``, ``X_u ~ Binomial(c_u, 1/2)``
    independently, where c_u counts the differences with ``|d| = u`` (flipping each sign
    is the same as drawing how many of the c_u values end up positive). Same null distribution as a sign matrix, O(#values)
    per resample instead of O(n); the label then says so. Such rows draw their own
    resamples (after the sign-matrix rows), so in a batch only sign-matrix rows share
    signs.

    p-values: greater ``#(T* >= T)``, less ``#(T* <= T)``, two-sided ``#(|T*| >= |T|)``,
    each with ``(b+1)/(m+1)`` (Monte Carlo) or ``b/2^n`` (exact enumeration, used when
    ``2^n <= n_resamples`` and ``exact`` is None, or forced with ``exact=True``; n <= 30).
    """
    check_alternative(alternative)
    n_resamples = _check_resamples(n_resamples)
    d = np.asarray(diffs, dtype=np.float64)
    if d.ndim == 1:
        d = d[None, :]
    if d.ndim != 2:
        raise ValueError("diffs must be a (k, n) matrix")
    if np.isnan(d).any():
        raise ValueError("diffs contains NaN; drop incomplete pairs first")
    k, n = d.shape
    if exact is None:
        exact = n <= 30 and 2**n <= n_resamples
    if exact and n > 30:
        raise ValueError("exact enumeration is limited to n <= 30 (2^30 sign vectors)")
    if n == 0:
        return [
            PermutationTestResult(
                statistic=math.nan,
                p=math.nan,
                n_resamples=0,
                exact=bool(exact),
                seed=seed_label(seed),
                alternative=alternative,
                n=0,
                n_a=0,
                n_b=0,
                method=_perm_label("paired sign-flip permutation test", alternative, exact),
            )
            for _ in range(k)
        ]
    observed = d.sum(axis=1)
    gamma = np.array([tie_tolerance(float(s)) for s in np.abs(d).sum(axis=1)])
    rng = None if exact else make_rng(seed)
    counts = np.zeros(k, dtype=np.int64)
    # rows with few distinct |d| values use the binomial-count path (see docstring)
    distinct = [np.unique(np.abs(row[row != 0]), return_counts=True) for row in d]
    use_counts = np.array(
        [not exact and u.size * _SIGNFLIP_DISTINCT_RATIO <= n for u, _ in distinct], dtype=bool
    )
    lut_rows = np.nonzero(~use_counts)[0]
    if lut_rows.size:
        for chunk in _signflip_sum_chunks(d[lut_rows], n_resamples, rng, bool(exact)):
            counts[lut_rows] += _count_extreme(
                chunk, observed[lut_rows], gamma[lut_rows], alternative
            )
    for j in np.nonzero(use_counts)[0]:
        assert rng is not None
        u, c = distinct[j]
        rows = chunk_rows(8 * max(u.size, 1) * 2, n_resamples)
        for start in range(0, n_resamples, rows):
            r = min(rows, n_resamples - start)
            flips = 2 * rng.binomial(c[None, :], 0.5, size=(r, u.size)) - c[None, :]
            null = (flips @ u)[:, None]
            counts[j] += _count_extreme(null, observed[j : j + 1], gamma[j : j + 1], alternative)[0]
    m = 2**n if exact else n_resamples
    p = counts / m if exact else (counts + 1) / (m + 1)
    label = _perm_label("paired sign-flip permutation test", alternative, exact)
    return [
        PermutationTestResult(
            statistic=float(observed[j] / n),
            p=float(min(1.0, p[j])),
            n_resamples=int(m),
            exact=bool(exact),
            seed=None if exact else seed_label(seed),
            alternative=alternative,
            n=n,
            n_a=n,
            n_b=n,
            method=label + (_COUNTS_NOTE if use_counts[j] else ""),
        )
        for j in range(k)
    ]


def _perm_label(base: str, alternative: str, exact: bool | None) -> str:
    how = "exact enumeration, p=b/M" if exact else "Monte Carlo, p=(b+1)/(m+1)"
    return f"{base} on the mean difference, {_SIDE[alternative]}, {how}"


def paired_permutation_test(
    a: ArrayLike,
    b: ArrayLike | None = None,
    *,
    alternative: Alternative = "two-sided",
    n_resamples: int = 10_000,
    seed: SeedLike = None,
    exact: bool | None = None,
) -> PermutationTestResult:
    """Paired sign-flip permutation test of mean(a - b) (or of ``a`` alone if ``b`` is None).

    Pairs with a NaN are dropped. See :func:`paired_permutation_tests` for the formula.
    """
    xa = as_1d(a, "a")
    if b is None:
        d = xa
    else:
        xb = as_1d(b, "b")
        if xa.shape != xb.shape:
            raise ValueError("paired samples must have the same length")
        d = xa - xb
    d = d[~np.isnan(d)]
    return paired_permutation_tests(
        d[None, :], alternative=alternative, n_resamples=n_resamples, seed=seed, exact=exact
    )[0]


def _random_subset_sums(
    rng: np.random.Generator, values: np.ndarray, size: int, rows: int
) -> np.ndarray:
    """Sums of ``values`` (N, k) over ``rows`` uniformly random subsets of ``size`` rows.

    The positions of the ``size`` smallest of N iid uniforms form a uniformly random subset
    (exchangeability), so each resample is one row of uniforms, a partition (O(N)) and a
    0/1 matrix product -- about 3x cheaper than shuffling an index matrix. Rows with a tie
    at the threshold (probability ~N / 2^53) are redone with an exact argpartition.
    """
    big_n = values.shape[0]
    keys = rng.random((rows, big_n))
    if size == 0:
        return np.zeros((rows, values.shape[1]))
    threshold = np.partition(keys, size - 1, axis=1)[:, size - 1 : size]
    member = keys <= threshold
    sums = member.astype(np.float64) @ values
    bad = np.nonzero(member.sum(axis=1) != size)[0]
    for i in bad:  # practically never
        pick = np.argpartition(keys[i], size - 1)[:size]
        sums[i] = values[pick].sum(axis=0)
    return sums


def two_sample_permutation_tests(
    a: ArrayLike,
    b: ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    n_resamples: int = 10_000,
    seed: SeedLike = None,
    exact: bool | None = None,
) -> list[PermutationTestResult]:
    """Label-permutation tests for k comparisons sharing group sizes and resamples.

    ``a`` is (k, n_a), ``b`` is (k, n_b) (no NaN). Statistic ``T = mean(a) - mean(b)``.
    Each resample draws a uniformly random subset of size n_a of the pooled ``n_a + n_b``
    positions (the n_a smallest of a row of uniforms, i.e. a random permutation's first
    n_a, as a 0/1 membership matrix) and recomputes T; all k comparisons use the same
    subsets. p as in :func:`paired_permutation_tests`; exact enumeration of all
    ``C(n_a+n_b, n_a)`` splits when that is <= ``n_resamples`` (at most 5,000,000 splits).

    Fast path for discrete data (single comparison, at most N/8 distinct pooled values):
    the sum of group a under a random split is ``sum_v v X_v`` with X multivariate
    hypergeometric (how many copies of each value land in group a) -- the same null
    distribution, O(#values) per resample; the label then says so.
    """
    check_alternative(alternative)
    n_resamples = _check_resamples(n_resamples)
    xa = np.asarray(a, dtype=np.float64)
    xb = np.asarray(b, dtype=np.float64)
    if xa.ndim == 1:
        xa = xa[None, :]
    if xb.ndim == 1:
        xb = xb[None, :]
    if xa.ndim != 2 or xb.ndim != 2 or xa.shape[0] != xb.shape[0]:
        raise ValueError("a and b must be (k, n_a) and (k, n_b) matrices")
    if np.isnan(xa).any() or np.isnan(xb).any():
        raise ValueError("samples contain NaN; drop missing values first")
    k, na = xa.shape
    nb = xb.shape[1]
    big_n = na + nb
    # C(N, n_a) only when it can be small (it has ~N/3 digits for large N)
    log_splits = math.lgamma(big_n + 1) - math.lgamma(na + 1) - math.lgamma(nb + 1)
    n_splits = math.comb(big_n, na) if log_splits < math.log(5e6) + 1 else None
    if exact is None:
        exact = n_splits is not None and n_splits <= n_resamples
    label = _perm_label("two-sample label permutation test", alternative, exact)
    if na == 0 or nb == 0:
        return [
            PermutationTestResult(
                statistic=math.nan,
                p=math.nan,
                n_resamples=0,
                exact=bool(exact),
                seed=seed_label(seed),
                alternative=alternative,
                n=big_n,
                n_a=na,
                n_b=nb,
                method=label,
            )
            for _ in range(k)
        ]
    if exact and (n_splits is None or n_splits > 5_000_000):
        raise ValueError(f"exact enumeration would need C({big_n}, {na}) > 5,000,000 splits")
    pooled = np.concatenate([xa, xb], axis=1)
    totals = pooled.sum(axis=1)
    observed = xa.mean(axis=1) - xb.mean(axis=1)
    scale = np.abs(pooled).mean(axis=1)
    gamma = np.array([tie_tolerance(float(s)) for s in scale])
    counts = np.zeros(k, dtype=np.int64)

    def null_from(idx: np.ndarray) -> np.ndarray:
        sa = pooled[:, idx].sum(axis=-1)  # (k, rows)
        return (sa / na - (totals[:, None] - sa) / nb).T

    if exact:
        assert n_splits is not None  # refused above when too many to count
        combos = np.fromiter(
            itertools.combinations(range(big_n), na), dtype=np.dtype((np.intp, na)), count=n_splits
        )
        rows = chunk_rows(na * 8 * (k + 1), n_splits)
        for start in range(0, n_splits, rows):
            counts += _count_extreme(
                null_from(combos[start : start + rows]), observed, gamma, alternative
            )
        assert n_splits is not None
        m = n_splits
        p = counts / m
    else:
        rng = make_rng(seed)
        values, colours = np.unique(pooled[0], return_counts=True)
        use_counts = k == 1 and values.size * _SPLIT_DISTINCT_RATIO <= big_n
        if use_counts:
            # sum of group a under a random split = values @ multivariate hypergeometric
            # counts of each distinct value among the n_a drawn (exact distribution)
            colours = colours.astype(np.int64)
            rows = chunk_rows(8 * values.size * 2, n_resamples)
            for start in range(0, n_resamples, rows):
                r = min(rows, n_resamples - start)
                drawn = rng.multivariate_hypergeometric(colours, na, size=r, method="marginals")
                sa = (drawn @ values)[:, None]
                null = sa / na - (totals[None, :] - sa) / nb
                counts += _count_extreme(null, observed, gamma, alternative)
            label += _COUNTS_NOTE
        else:
            rows = chunk_rows(big_n * 8 * 3, n_resamples)
            pooled_t = np.ascontiguousarray(pooled.T)  # (N, k)
            for start in range(0, n_resamples, rows):
                r = min(rows, n_resamples - start)
                sa = _random_subset_sums(rng, pooled_t, na, r)  # (r, k)
                null = sa / na - (totals[None, :] - sa) / nb
                counts += _count_extreme(null, observed, gamma, alternative)
        m = n_resamples
        p = (counts + 1) / (m + 1)
    return [
        PermutationTestResult(
            statistic=float(observed[j]),
            p=float(min(1.0, p[j])),
            n_resamples=int(m),
            exact=bool(exact),
            seed=None if exact else seed_label(seed),
            alternative=alternative,
            n=big_n,
            n_a=na,
            n_b=nb,
            method=label,
        )
        for j in range(k)
    ]


def two_sample_permutation_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    n_resamples: int = 10_000,
    seed: SeedLike = None,
    exact: bool | None = None,
) -> PermutationTestResult:
    """Two-sample label-permutation test of ``mean(a) - mean(b)`` (NaNs dropped per sample).

    See :func:`two_sample_permutation_tests`.
    """
    xa, xb = as_1d(a, "a"), as_1d(b, "b")
    xa, xb = xa[~np.isnan(xa)], xb[~np.isnan(xb)]
    return two_sample_permutation_tests(
        xa[None, :],
        xb[None, :],
        alternative=alternative,
        n_resamples=n_resamples,
        seed=seed,
        exact=exact,
    )[0]


# --------------------------------------------------------------------------------------
# Binomial / sign tests
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class BinomialTestResult(StatResult):
    """Exact binomial test of ``k`` successes in ``n`` trials against ``p0``.

    ``proportion = k/n`` with a Clopper–Pearson ("exact") interval that is one-sided for
    one-sided alternatives (as scipy's ``proportion_ci(method="exact")``).
    """

    k: int
    n: int
    p0: float
    p: float
    proportion: float
    ci_low: float
    ci_high: float
    confidence: float
    alternative: str
    method: str


def _binom_p(k: int, n: int, p0: float, alternative: str) -> float:
    if alternative == "less":
        return float(sps.binom.cdf(k, n, p0))
    if alternative == "greater":
        return float(sps.binom.sf(k - 1, n, p0))
    # two-sided: sum of probabilities of outcomes no more likely than the observed one
    # (the "minlike" rule; for p0 = 0.5 it equals doubling the smaller tail).
    pmf = sps.binom.pmf(np.arange(n + 1), n, p0)
    d = pmf[k]
    return float(min(1.0, pmf[pmf <= d * (1 + 1e-7)].sum()))


def _clopper_pearson(k: int, n: int, confidence: float, alternative: str) -> tuple[float, float]:
    if alternative == "two-sided":
        alpha = (1.0 - confidence) / 2.0
    else:
        alpha = 1.0 - confidence
    lo = 0.0 if k == 0 else float(sps.beta.ppf(alpha, k, n - k + 1))
    hi = 1.0 if k == n else float(sps.beta.ppf(1.0 - alpha, k + 1, n - k))
    if alternative == "greater":
        hi = 1.0
    elif alternative == "less":
        lo = 0.0
    return lo, hi


def binomial_test(
    k: int,
    n: int,
    p0: float = 0.5,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> BinomialTestResult:
    """Exact binomial test.

    greater: ``P(X >= k)``; less: ``P(X <= k)``; two-sided: ``sum P(X = i)`` over all i
    with ``P(X = i) <= P(X = k)`` (scipy's rule; equals 2 x smaller tail when p0 = 0.5),
    with ``X ~ Binomial(n, p0)``. n = 0 gives NaN.
    """
    check_alternative(alternative)
    check_confidence(confidence)
    k, n = int(k), int(n)
    if n < 0 or k < 0 or k > n:
        raise ValueError("need 0 <= k <= n")
    if not 0.0 <= p0 <= 1.0:
        raise ValueError("p0 must be in [0, 1]")
    label = f"exact binomial test (p0={p0:g}), {_SIDE[alternative]}"
    if n == 0:
        return BinomialTestResult(
            k=0,
            n=0,
            p0=p0,
            p=math.nan,
            proportion=math.nan,
            ci_low=math.nan,
            ci_high=math.nan,
            confidence=confidence,
            alternative=alternative,
            method=label,
        )
    lo, hi = _clopper_pearson(k, n, confidence, alternative)
    return BinomialTestResult(
        k=k,
        n=n,
        p0=float(p0),
        p=_binom_p(k, n, p0, alternative),
        proportion=k / n,
        ci_low=lo,
        ci_high=hi,
        confidence=confidence,
        alternative=alternative,
        method=label,
    )


@dataclasses.dataclass(frozen=True, eq=False)
class SignTestResult(StatResult):
    """Sign test on preferences: wins of A vs wins of B, ties excluded (and counted).

    ``n = wins_a + wins_b`` (non-tied judgments); ``share_a = wins_a / n`` with a
    Clopper–Pearson interval (``ci_low``, ``ci_high``).
    """

    wins_a: int
    wins_b: int
    ties: int
    n: int
    p: float
    share_a: float
    ci_low: float
    ci_high: float
    confidence: float
    alternative: str
    method: str


_PREF_CODES: dict[object, float] = {
    "a": 1.0,
    "b": -1.0,
    "tie": 0.0,
    "A": 1.0,
    "B": -1.0,
    "TIE": 0.0,
    "Tie": 0.0,
}


def preference_scores(
    preferences: ArrayLike | Sequence[object],
    *,
    a: object = "a",
    b: object = "b",
    tie: object = "tie",
) -> np.ndarray:
    """Code preferences as +1 (A preferred), -1 (B preferred), 0 (tie); NaN for missing.

    Accepts labels (``a``/``b``/``tie``, customisable; "A"/"B"/"TIE" also work) or numbers
    whose sign is taken (+1/0/-1 or any signed margin). ``None``/NaN become NaN.
    """
    arr = np.asarray(preferences, dtype=object).ravel()
    if arr.size and all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        for v in arr
    ):
        return np.sign(arr.astype(np.float64))
    codes = dict(_PREF_CODES)
    codes.update({a: 1.0, b: -1.0, tie: 0.0})
    out = np.empty(arr.size)
    for i, v in enumerate(arr):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out[i] = math.nan
        elif v in codes:
            out[i] = codes[v]
        else:
            raise ValueError(f"unknown preference label {v!r}")
    return out


def sign_test_counts(
    wins_a: int,
    wins_b: int,
    ties: int = 0,
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> SignTestResult:
    """Sign test from counts: exact binomial test of ``wins_a`` in ``wins_a + wins_b`` at 0.5.

    Ties are excluded from the test and reported in ``ties`` (the label says how many).
    ``alternative="greater"`` means A is preferred. All ties (n = 0) -> p, share NaN.
    """
    res = binomial_test(
        int(wins_a),
        int(wins_a) + int(wins_b),
        0.5,
        alternative=alternative,
        confidence=confidence,
    )
    return SignTestResult(
        wins_a=int(wins_a),
        wins_b=int(wins_b),
        ties=int(ties),
        n=res.n,
        p=res.p,
        share_a=res.proportion,
        ci_low=res.ci_low,
        ci_high=res.ci_high,
        confidence=confidence,
        alternative=alternative,
        method=(
            f"exact binomial sign test, {_SIDE[alternative]}, "
            f"ties excluded ({int(ties)} tie{'s' if int(ties) != 1 else ''} dropped)"
        ),
    )


def sign_test(
    preferences: ArrayLike | Sequence[object],
    *,
    alternative: Alternative = "two-sided",
    confidence: float = 0.95,
) -> SignTestResult:
    """Sign test on preferences ("a"/"b"/"tie" or +1/-1/0); ties excluded and counted.

    Missing values (None/NaN) are ignored entirely.
    """
    s = preference_scores(preferences)
    s = s[~np.isnan(s)]
    return sign_test_counts(
        int((s > 0).sum()),
        int((s < 0).sum()),
        int((s == 0).sum()),
        alternative=alternative,
        confidence=confidence,
    )


# --------------------------------------------------------------------------------------
# Multiple comparisons
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class CorrectionResult(StatResult):
    """Adjusted p-values over a declared family of ``m`` tests (in input order)."""

    p_raw: np.ndarray
    p_adjusted: np.ndarray
    reject: np.ndarray
    alpha: float
    m: int
    method: str


def _pvals(pvals: ArrayLike) -> np.ndarray:
    p = as_1d(pvals, "pvals")
    ok = ~np.isnan(p)
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    return p


def bonferroni(pvals: ArrayLike, *, alpha: float = 0.05) -> CorrectionResult:
    """Bonferroni: ``p_adj = min(1, m p)``; reject where ``p_adj <= alpha``.

    The family size m is the number of p-values passed, NaNs included (a planned test that
    could not be computed still counts; its adjusted p stays NaN and is not rejected).
    """
    p = _pvals(pvals)
    m = int(p.size)
    adj = np.minimum(1.0, p * m)
    return CorrectionResult(
        p_raw=p,
        p_adjusted=adj,
        reject=np.nan_to_num(adj, nan=2.0) <= alpha,
        alpha=float(alpha),
        m=m,
        method=f"Bonferroni (family of m={m}, FWER)",
    )


def holm(pvals: ArrayLike, *, alpha: float = 0.05) -> CorrectionResult:
    """Holm (1979) step-down: sort ``p_(1) <= ... <= p_(m)``,
    ``p_adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))`` (monotone), back in input order.

    Rejecting where ``p_adj <= alpha`` equals Holm's sequential procedure. m counts NaNs,
    which sort last, keep NaN and are never rejected (as in :func:`bonferroni`).
    """
    p = _pvals(pvals)
    m = int(p.size)
    order = np.argsort(p, kind="stable")  # NaN last
    ps = p[order]
    factors = m - np.arange(m)
    adj_sorted = np.minimum(1.0, np.fmax.accumulate(factors * ps)) if m else ps
    adj_sorted = np.where(np.isnan(ps), np.nan, adj_sorted)
    adj = np.empty(m)
    adj[order] = adj_sorted
    return CorrectionResult(
        p_raw=p,
        p_adjusted=adj,
        reject=np.nan_to_num(adj, nan=2.0) <= alpha,
        alpha=float(alpha),
        m=m,
        method=f"Holm step-down (family of m={m}, FWER)",
    )


def adjust_pvalues(
    pvals: ArrayLike, method: str = "holm", *, alpha: float = 0.05
) -> CorrectionResult:
    """Dispatch to :func:`holm` or :func:`bonferroni` by name."""
    if method == "holm":
        return holm(pvals, alpha=alpha)
    if method == "bonferroni":
        return bonferroni(pvals, alpha=alpha)
    raise ValueError("method must be 'holm' or 'bonferroni'")
