"""Permutation tests: paired sign flips, two-sample label permutations and preference
sign flips, vectorised.

Why hand-written (scipy has ``permutation_test``): no library draws the resamples this
way. The sign flips come as random bytes and per-byte sum tables (n/8 look-ups per
resample), several comparisons share one resample matrix, and discrete data draw the
permuted statistic from its exact count distribution. That is what makes the full
analysis of an EmPO-size study take about 0.3 s instead of the 5.5 s of a per-comparison
``scipy.stats.permutation_test`` loop (``bench/RESULTS_analysis.md``). The tests check
every path against scipy's ``permutation_test``.

Conventions:

* Resamples are drawn as a matrix, in chunks of at most ``_base.CHUNK_BYTES`` bytes, never
  with a Python loop per resample.
* Monte-Carlo p-values use ``(b + 1) / (m + 1)`` (b = resamples at least as extreme as
  observed, m = resamples; Phipson & Smyth 2010), so p is never 0. When the full
  permutation set is no larger than ``n_resamples`` (or ``exact=True``) it is enumerated
  and ``p = b / M`` over all M permutations (identity included), as scipy does.
* Two-sided p-values follow ``two_sided``: ``"absolute"`` (default) counts resamples with
  ``|T*| >= |T|``; ``"doubled"`` is twice the smaller one-sided p-value, capped at 1 (what
  scipy's ``permutation_test`` does). They differ when the null distribution is not
  symmetric (two-sample tests with unequal group sizes, discrete data).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from ._base import (
    Alternative,
    SeedLike,
    StatResult,
    as_1d,
    check_alternative,
    chunk_rows,
    make_rng,
    seed_label,
    tie_tolerance,
)
from .significance import _SIDE, preference_scores

__all__ = [
    "TWO_SIDED_RULES",
    "PermutationTestResult",
    "TwoSidedRule",
    "paired_permutation_test",
    "paired_permutation_tests",
    "two_sample_permutation_test",
    "two_sample_permutation_tests",
    "preference_permutation_test",
    "preference_permutation_tests",
]

TwoSidedRule = Literal["absolute", "doubled"]
#: each two-sided rule as the method labels word it
TWO_SIDED_RULES: dict[str, str] = {
    "absolute": "two-sided (|T*| >= |T|)",
    "doubled": "two-sided (2 x smaller one-sided p, as scipy)",
}


def _check_rule(two_sided: str) -> None:
    if two_sided not in TWO_SIDED_RULES:
        raise ValueError(f"two_sided must be 'absolute' or 'doubled' (got {two_sided!r})")


def _tails(alternative: str, two_sided: str) -> tuple[str, ...]:
    """The tails to count: both one-sided ones for the doubled two-sided rule."""
    if alternative == "two-sided" and two_sided == "doubled":
        return ("greater", "less")
    return (alternative,)


def _side_words(alternative: str, two_sided: str) -> str:
    return TWO_SIDED_RULES[two_sided] if alternative == "two-sided" else _SIDE[alternative]


def _p_from_counts(counts: np.ndarray, m: int, exact: bool) -> np.ndarray:
    """p per comparison from (tails, k) counts: one tail as is, two tails doubled."""
    p = counts / m if exact else (counts + 1) / (m + 1)
    if p.shape[0] == 2:
        p = 2.0 * p.min(axis=0, keepdims=True)
    return np.minimum(1.0, p[0])


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
    null: np.ndarray, observed: np.ndarray, gamma: np.ndarray, tails: tuple[str, ...]
) -> np.ndarray:
    """Per tail and column: how many rows of ``null`` are at least as extreme as
    ``observed``.

    ``null`` is (rows, k); ``observed`` and ``gamma`` are (k,); returns (len(tails), k).
    """
    out = np.empty((len(tails), null.shape[1]), dtype=np.int64)
    for t, alternative in enumerate(tails):
        if alternative == "greater":
            hits = null >= observed - gamma
        elif alternative == "less":
            hits = null <= observed + gamma
        else:
            hits = np.abs(null) >= np.abs(observed) - gamma
        out[t] = hits.sum(axis=0)
    return out


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
    two_sided: TwoSidedRule = "absolute",
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

    p-values: greater ``#(T* >= T)``, less ``#(T* <= T)``, two-sided ``#(|T*| >= |T|)``
    (``two_sided="absolute"``) or twice the smaller one-sided p (``"doubled"``), each with ``(b+1)/(m+1)`` (Monte Carlo) or ``b/2^n`` (exact enumeration, used when
    ``2^n <= n_resamples`` and ``exact`` is None, or forced with ``exact=True``; n <= 30).
    """
    check_alternative(alternative)
    _check_rule(two_sided)
    tails = _tails(alternative, two_sided)
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
                method=_perm_label(
                    "paired sign-flip permutation test", alternative, exact, two_sided
                ),
            )
            for _ in range(k)
        ]
    observed = d.sum(axis=1)
    gamma = np.array([tie_tolerance(float(s)) for s in np.abs(d).sum(axis=1)])
    rng = None if exact else make_rng(seed)
    counts = np.zeros((len(tails), k), dtype=np.int64)
    # rows with few distinct |d| values use the binomial-count path (see docstring)
    distinct = [np.unique(np.abs(row[row != 0]), return_counts=True) for row in d]
    use_counts = np.array(
        [not exact and u.size * _SIGNFLIP_DISTINCT_RATIO <= n for u, _ in distinct], dtype=bool
    )
    lut_rows = np.nonzero(~use_counts)[0]
    if lut_rows.size:
        for chunk in _signflip_sum_chunks(d[lut_rows], n_resamples, rng, bool(exact)):
            counts[:, lut_rows] += _count_extreme(chunk, observed[lut_rows], gamma[lut_rows], tails)
    for j in np.nonzero(use_counts)[0]:
        assert rng is not None
        u, c = distinct[j]
        rows = chunk_rows(8 * max(u.size, 1) * 2, n_resamples)
        for start in range(0, n_resamples, rows):
            r = min(rows, n_resamples - start)
            flips = 2 * rng.binomial(c[None, :], 0.5, size=(r, u.size)) - c[None, :]
            null = (flips @ u)[:, None]
            counts[:, j] += _count_extreme(null, observed[j : j + 1], gamma[j : j + 1], tails)[:, 0]
    m = 2**n if exact else n_resamples
    p = _p_from_counts(counts, m, bool(exact))
    label = _perm_label("paired sign-flip permutation test", alternative, exact, two_sided)
    return [
        PermutationTestResult(
            statistic=float(observed[j] / n),
            p=float(p[j]),
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


def _perm_label(base: str, alternative: str, exact: bool | None, two_sided: str) -> str:
    how = "exact enumeration, p=b/M" if exact else "Monte Carlo, p=(b+1)/(m+1)"
    return f"{base} on the mean difference, {_side_words(alternative, two_sided)}, {how}"


def paired_permutation_test(
    a: ArrayLike,
    b: ArrayLike | None = None,
    *,
    alternative: Alternative = "two-sided",
    n_resamples: int = 10_000,
    seed: SeedLike = None,
    exact: bool | None = None,
    two_sided: TwoSidedRule = "absolute",
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
        d[None, :],
        alternative=alternative,
        n_resamples=n_resamples,
        seed=seed,
        exact=exact,
        two_sided=two_sided,
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
    two_sided: TwoSidedRule = "absolute",
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
    _check_rule(two_sided)
    tails = _tails(alternative, two_sided)
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
    label = _perm_label("two-sample label permutation test", alternative, exact, two_sided)
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
    counts = np.zeros((len(tails), k), dtype=np.int64)

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
                null_from(combos[start : start + rows]), observed, gamma, tails
            )
        assert n_splits is not None
        m = n_splits
        p = _p_from_counts(counts, m, True)
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
                counts += _count_extreme(null, observed, gamma, tails)
            label += _COUNTS_NOTE
        else:
            rows = chunk_rows(big_n * 8 * 3, n_resamples)
            pooled_t = np.ascontiguousarray(pooled.T)  # (N, k)
            for start in range(0, n_resamples, rows):
                r = min(rows, n_resamples - start)
                sa = _random_subset_sums(rng, pooled_t, na, r)  # (r, k)
                null = sa / na - (totals[None, :] - sa) / nb
                counts += _count_extreme(null, observed, gamma, tails)
        m = n_resamples
        p = _p_from_counts(counts, m, False)
    return [
        PermutationTestResult(
            statistic=float(observed[j]),
            p=float(p[j]),
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
    two_sided: TwoSidedRule = "absolute",
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
        two_sided=two_sided,
    )[0]


def preference_permutation_tests(
    preferences: ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    n_resamples: int = 10_000,
    seed: SeedLike = None,
    exact: bool | None = None,
    two_sided: TwoSidedRule = "absolute",
) -> list[PermutationTestResult]:
    """Sign-flip tests for k preference vectors (a (k, n) matrix of +1/0/-1; NaN = missing,
    dropped per row). See :func:`preference_permutation_test` for the test itself.

    Fast path: with values in {-1, 0, +1}, a random sign flip makes every non-tied value an
    independent fair +/-1, so the flipped sum is ``2 X - n_nz`` with
    ``X ~ Binomial(n_nz, 1/2)`` (n_nz = non-tied judgments). Resamples are drawn from that
    distribution directly (the same null distribution as a sign matrix, O(1) per resample
    and row); exact mode sums the binomial pmf, which equals enumerating all 2^n flips.
    """
    check_alternative(alternative)
    _check_rule(two_sided)
    tails = _tails(alternative, two_sided)
    n_resamples = _check_resamples(n_resamples)
    p = np.sign(np.asarray(preferences, dtype=np.float64))
    if p.ndim == 1:
        p = p[None, :]
    rng = make_rng(seed)
    out = []
    for row in p:
        v = row[~np.isnan(row)]
        n = int(v.size)
        n_nz = int(np.count_nonzero(v))
        obs = int(v.sum())
        use_exact = (n <= 30 and 2**n <= n_resamples) if exact is None else bool(exact)
        if n == 0:
            pval = math.nan
            m = 0
        elif use_exact:
            support = 2 * np.arange(n_nz + 1) - n_nz
            pmf = sps.binom.pmf(np.arange(n_nz + 1), n_nz, 0.5)
            tail_p = np.array([[pmf[_extreme(support, obs, t)].sum()] for t in tails])
            pval = float(_p_from_counts(tail_p, 1, True)[0])
            m = 2**n
        else:
            null = 2 * rng.binomial(n_nz, 0.5, size=n_resamples) - n_nz
            b = np.array([[int(_extreme(null, obs, t).sum())] for t in tails])
            pval = float(_p_from_counts(b, n_resamples, False)[0])
            m = n_resamples
        how = "exact (binomial null), p=b/M" if use_exact else "Monte Carlo, p=(b+1)/(m+1)"
        out.append(
            PermutationTestResult(
                statistic=obs / n if n else math.nan,
                p=float(min(1.0, pval)) if not math.isnan(pval) else math.nan,
                n_resamples=int(m),
                exact=use_exact,
                seed=None if use_exact else seed_label(seed),
                alternative=alternative,
                n=n,
                n_a=n,
                n_b=n,
                method=(
                    "preference sign-flip permutation test on the mean preference "
                    f"(+1 A / 0 tie / -1 B), {_side_words(alternative, two_sided)}, {how}"
                ),
            )
        )
    return out


def _extreme(null: np.ndarray, obs: int, alternative: str) -> np.ndarray:
    if alternative == "greater":
        return null >= obs
    if alternative == "less":
        return null <= obs
    return np.abs(null) >= abs(obs)


def preference_permutation_test(
    preferences: ArrayLike | Sequence[object],
    *,
    alternative: Alternative = "two-sided",
    n_resamples: int = 10_000,
    seed: SeedLike = None,
    exact: bool | None = None,
    two_sided: TwoSidedRule = "absolute",
) -> PermutationTestResult:
    """Sign-flip permutation test on preferences coded +1 (A) / 0 (tie) / -1 (B).

    Statistic: mean preference ``(wins_a - wins_b) / n`` with ties kept in n (a flipped tie
    stays 0). Under H0 A and B are exchangeable, so every judgment's sign is flipped with
    probability 1/2. ``"greater"`` = A preferred. Missing values are dropped. Conditional
    on the ties this is the sign test in Monte-Carlo form.
    """
    s = preference_scores(preferences)
    s = s[~np.isnan(s)]
    return preference_permutation_tests(
        s[None, :],
        alternative=alternative,
        n_resamples=n_resamples,
        seed=seed,
        exact=exact,
        two_sided=two_sided,
    )[0]
