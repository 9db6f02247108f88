"""Shared, vectorised resampling: seeded random streams, bootstrap means that share
their resamples, percentile intervals. Pure (numpy).

Resampling is shared: all comparisons of one sample size use one sign / split matrix for
the permutation tests (:func:`analysis.stats.paired_permutation_tests` and
:func:`analysis.stats.two_sample_permutation_tests`) and one bootstrap count matrix (a
matrix product, :func:`shared_bootstrap_means`), drawn in memory-bounded chunks.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from analysis.stats._base import CHUNK_BYTES

from .options import AnalysisOptions

__all__ = ["percentile_ci", "rng_for", "shared_bootstrap_means"]

# stream tags for the per-size random generators (fixed so results never depend on order)
TAG_PAIRED_PERM, TAG_SPLIT_PERM, TAG_BOOT_PAIRED, TAG_BOOT_TWO = 11, 12, 21, 22
TAG_PREF_PERM, TAG_BT = 31, 41


def rng_for(options: AnalysisOptions, tag: int, *sizes: int) -> np.random.Generator:
    """One PCG64 stream per (seed, purpose, sample size): results never depend on the order
    in which comparisons are processed."""
    return np.random.default_rng([int(options.seed), tag, *[int(s) for s in sizes]])


def _bootstrap_count_chunks(
    rng: np.random.Generator, n: int, n_resamples: int
) -> Iterable[np.ndarray]:
    """Yield (rows, n) float matrices of bootstrap counts (how often each of the n units is
    drawn in a resample of size n with replacement), chunked to ``CHUNK_BYTES``."""
    # 4 x CHUNK_BYTES: the count matrix feeds a matrix product, which wants wide chunks
    rows = int(max(1, min(n_resamples, 4 * CHUNK_BYTES // (8 * max(n, 1)))))
    for start in range(0, n_resamples, rows):
        r = min(rows, n_resamples - start)
        idx = rng.integers(0, n, size=(r, n), dtype=np.int64)
        idx += (np.arange(r, dtype=np.int64) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=r * n).reshape(r, n).astype(np.float64)


def shared_bootstrap_means(
    samples: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap means of k samples of equal size n that share their resamples.

    ``samples`` is (k, n); returns (n_resamples, k). Each resample draws n of the n
    positions with replacement (the same positions for all k rows), expressed as a count
    matrix C so that the k means are one matrix product ``C @ samples.T / n``. Paired data
    pass their differences: resampling positions keeps pairs together.
    """
    x = np.asarray(samples, dtype=np.float64)
    k, n = x.shape
    out = np.empty((n_resamples, k))
    start = 0
    for counts in _bootstrap_count_chunks(rng, n, n_resamples):
        r = counts.shape[0]
        out[start : start + r] = counts @ x.T / n
        start += r
    return out


def percentile_ci(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    a = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(boot, [a, 1.0 - a], axis=0)
    return lo, hi
