"""Effect sizes, mean CIs and the bootstrap vs scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

import analysis.stats._base as base
from analysis.stats import (
    bootstrap_ci,
    cohens_d_pooled,
    cohens_dz,
    hedges_correction,
    hedges_g,
    mean_ci,
)

FAST = settings(max_examples=40, deadline=None)
STAT = settings(max_examples=10, deadline=None, derandomize=True)
reals = st.floats(min_value=-50, max_value=50, allow_nan=False, allow_infinity=False)


def _spread_ok(x: np.ndarray) -> bool:
    return bool(np.std(x) > 1e-6 * (1 + np.abs(x).max()))


# --------------------------------------------------------------------------------------
# Effect sizes (cross-checked through scipy's t statistics)
# --------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
@FAST
@given(data=st.lists(st.tuples(reals, reals), min_size=2, max_size=40))
def test_dz_is_paired_t_over_sqrt_n(data):
    a = np.array([x for x, _ in data])
    b = np.array([y for _, y in data])
    assume(_spread_ok(a - b))
    t = stats.ttest_rel(a, b).statistic
    res = cohens_dz(a, b)
    assert res.value == pytest.approx(t / math.sqrt(len(data)), rel=1e-8, abs=1e-10)
    assert res.method == "Cohen's d_z (paired: mean difference / SD of differences)"
    assert res.standardizer == pytest.approx(np.std(a - b, ddof=1))


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
@FAST
@given(a=st.lists(reals, min_size=2, max_size=30), b=st.lists(reals, min_size=2, max_size=30))
def test_pooled_d_from_student_t(a, b):
    a, b = np.array(a), np.array(b)
    assume(_spread_ok(np.r_[a - a.mean(), b - b.mean()]))
    t = stats.ttest_ind(a, b, equal_var=True).statistic
    res = cohens_d_pooled(a, b)
    assert res.value == pytest.approx(t * math.sqrt(1 / a.size + 1 / b.size), rel=1e-8, abs=1e-10)
    assert res.method == "Cohen's d (pooled SD)"
    g = hedges_g(a, b)
    df = a.size + b.size - 2
    assert g.df == df
    assert g.value == pytest.approx(res.value * hedges_correction(df), rel=1e-12)
    assert "exact J" in g.method


def test_hedges_correction_values_and_approximation():
    # J(df) from the gamma functions vs a direct (non-log) evaluation
    for df in (2, 3, 5, 10, 40):
        direct = math.gamma(df / 2) / (math.sqrt(df / 2) * math.gamma((df - 1) / 2))
        assert hedges_correction(df) == pytest.approx(direct, rel=1e-12)
    # stable for large df (gamma itself would overflow)
    assert hedges_correction(5000) == pytest.approx(1 - 3 / (4 * 5000 - 1), abs=1e-8)
    for df in range(5, 200):
        assert 0 < (1 - 3 / (4 * df - 1)) - hedges_correction(df) < 0.0014
    assert math.isnan(hedges_correction(1))


def test_paired_hedges_and_both_d_variants_differ():
    a = np.array([5.0, 6.0, 7.0, 6.5, 8.0, 7.5])
    b = a - np.array([0.5, 0.7, 0.4, 0.6, 0.5, 0.8])
    dz = cohens_dz(a, b).value
    d = cohens_d_pooled(a, b).value
    assert dz > 3 * d  # same data, very different standardisers: label them
    gz = hedges_g(a, b, paired=True)
    assert gz.df == 5
    assert gz.value == pytest.approx(dz * hedges_correction(5))
    assert "d_z" in gz.method


def test_effect_size_edge_cases():
    assert cohens_dz([1.0, 2.0, 3.0], [0.0, 1.0, 2.0]).value == math.inf
    assert math.isnan(cohens_dz([1.0, 2.0], [1.0, 2.0]).value)
    assert math.isnan(cohens_dz([1.0], [0.0]).value)
    assert cohens_d_pooled([1.0, 1.0], [0.0, 0.0]).value == math.inf
    assert math.isnan(cohens_d_pooled([1.0], [0.0]).value)
    assert math.isnan(hedges_g([1.0], [2.0]).value)
    res = cohens_dz([1.0, np.nan, 3.0, 4.0], [0.0, 1.0, 1.0, 1.5])
    assert res.n_a == 3


# --------------------------------------------------------------------------------------
# Mean CI
# --------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
@FAST
@given(x=st.lists(reals, min_size=2, max_size=50), conf=st.sampled_from([0.9, 0.95, 0.99]))
def test_mean_ci_matches_scipy(x, conf):
    x = np.array(x)
    assume(_spread_ok(x))
    res = mean_ci(x, confidence=conf)
    lo, hi = stats.ttest_1samp(x, 0.0).confidence_interval(conf)
    assert res.ci_low == pytest.approx(lo, rel=1e-9, abs=1e-9)
    assert res.ci_high == pytest.approx(hi, rel=1e-9, abs=1e-9)
    assert res.sd == pytest.approx(np.std(x, ddof=1))
    assert res.n == x.size


def test_mean_ci_edge_cases():
    one = mean_ci([3.0])
    assert one.mean == 3.0 and math.isnan(one.ci_low) and math.isnan(one.sd)
    flat = mean_ci([2.0, 2.0, 2.0])
    assert (flat.ci_low, flat.ci_high) == (2.0, 2.0)
    miss = mean_ci([1.0, np.nan, 3.0])
    assert miss.n == 2 and miss.mean == 2.0
    assert math.isnan(mean_ci([]).mean)


# --------------------------------------------------------------------------------------
# Bootstrap vs scipy.stats.bootstrap
# --------------------------------------------------------------------------------------


def _close(ours, ref_ci, ref_se, k=0.2):
    """Endpoints agree within k bootstrap SEs (Monte-Carlo error of a quantile at
    B = 20,000 is ~0.04 SE per run; k = 0.2 is > 3.5 SDs of the difference)."""
    assert abs(ours.ci_low - ref_ci.low) <= k * ref_se
    assert abs(ours.ci_high - ref_ci.high) <= k * ref_se
    assert ours.se == pytest.approx(ref_se, rel=0.05)


@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_bootstrap_one_sample_matches_scipy(method):
    x = np.random.default_rng(1).exponential(size=35)  # skewed: BCa != percentile
    b = 20_000
    ours = bootstrap_ci([x], "mean", method=method, n_resamples=b, seed=3)
    ref = stats.bootstrap(
        (x,), np.mean, method="BCa" if method == "bca" else "percentile", n_resamples=b, rng=4
    )
    _close(ours, ref.confidence_interval, ref.standard_error)
    assert ours.estimate == pytest.approx(x.mean())
    assert ("BCa" in ours.method) == (method == "bca")


def test_bca_differs_from_percentile_on_skewed_data():
    x = np.random.default_rng(1).exponential(size=35)
    p = bootstrap_ci([x], "mean", method="percentile", n_resamples=20_000, seed=3)
    c = bootstrap_ci([x], "mean", method="bca", n_resamples=20_000, seed=3)
    assert c.ci_high - p.ci_high > 0.3 * p.se  # BCa shifts right for right-skewed data


@pytest.mark.parametrize("method", ["percentile", "bca"])
@pytest.mark.parametrize("paired", [False, True])
def test_bootstrap_two_sample_matches_scipy(method, paired):
    rng = np.random.default_rng(5)
    x = rng.gamma(2.0, size=30)
    y = rng.gamma(1.5, size=30) + (0.5 * x if paired else 0)
    b = 20_000

    def diff(u, v, axis=-1):
        return np.mean(u, axis=axis) - np.mean(v, axis=axis)

    ours = bootstrap_ci([x, y], diff, method=method, n_resamples=b, seed=1, paired=paired)
    named = bootstrap_ci(
        [x, y], "mean_difference", method=method, n_resamples=b, seed=1, paired=paired
    )
    assert named.ci_low == pytest.approx(ours.ci_low, rel=1e-10)
    assert named.ci_high == pytest.approx(ours.ci_high, rel=1e-10)
    ref = stats.bootstrap(
        (x, y),
        diff,
        method="BCa" if method == "bca" else "percentile",
        n_resamples=b,
        paired=paired,
        rng=2,
    )
    _close(ours, ref.confidence_interval, ref.standard_error)


@STAT
@given(
    x=st.lists(st.integers(1, 7).map(float), min_size=8, max_size=40),
    method=st.sampled_from(["percentile", "bca"]),
    seed=st.integers(0, 2**31),
)
def test_bootstrap_random_data_matches_scipy(x, method, seed):
    x = np.array(x)
    assume(_spread_ok(x) and np.unique(x).size >= 3)
    b = 10_000
    ours = bootstrap_ci([x], "mean", method=method, n_resamples=b, seed=seed)
    ref = stats.bootstrap(
        (x,),
        np.mean,
        method="BCa" if method == "bca" else "percentile",
        n_resamples=b,
        rng=seed + 1,
    )
    _close(ours, ref.confidence_interval, ref.standard_error, k=0.35)


def test_bootstrap_vectorised_and_loop_agree():
    rng = np.random.default_rng(2)
    x = rng.normal(size=25)
    vec = bootstrap_ci([x], lambda s, axis=-1: np.median(s, axis=axis), n_resamples=500, seed=9)
    loop = bootstrap_ci([x], lambda s: float(np.median(s)), n_resamples=500, seed=9)
    assert vec.ci_low == loop.ci_low and vec.ci_high == loop.ci_high
    forced = bootstrap_ci([x], np.median, n_resamples=500, seed=9, vectorized=False)
    assert forced.ci_low == vec.ci_low
    bca_vec = bootstrap_ci([x], "median", method="bca", n_resamples=500, seed=9)
    bca_loop = bootstrap_ci(
        [x], lambda s: float(np.median(s)), method="bca", n_resamples=500, seed=9
    )
    assert bca_vec.ci_low == pytest.approx(bca_loop.ci_low)


def test_bootstrap_chunking_keeps_the_stream(monkeypatch):
    x = np.random.default_rng(0).normal(size=50)
    whole = bootstrap_ci(x, "mean", n_resamples=1000, seed=4)
    monkeypatch.setattr(base, "CHUNK_BYTES", 50 * 16 * 7)  # 7 resamples per chunk
    chunked = bootstrap_ci(x, "mean", n_resamples=1000, seed=4)
    # integer draws of the same Generator continue the same stream across chunks
    assert chunked.ci_low == pytest.approx(whole.ci_low)
    assert chunked.ci_high == pytest.approx(whole.ci_high)


def test_bootstrap_edge_cases():
    one = bootstrap_ci([np.array([1.0])], "mean", seed=0)
    assert one.estimate == 1.0 and math.isnan(one.ci_low)
    flat = bootstrap_ci([np.full(10, 3.0)], "mean", method="bca", seed=0)
    assert (flat.ci_low, flat.ci_high) == (3.0, 3.0)
    with_nan = bootstrap_ci([np.array([1.0, np.nan, 2.0, 3.0])], "mean", seed=0)
    assert with_nan.estimate == 2.0
    with pytest.raises(ValueError):
        bootstrap_ci([np.ones(3), np.ones(4)], "mean_difference", paired=True)
    with pytest.raises(ValueError):
        bootstrap_ci([np.ones(3)], "mode")
    with pytest.raises(ValueError):
        bootstrap_ci([np.ones(3), np.ones(3)], "mean")
    with pytest.raises(ValueError):
        bootstrap_ci([np.ones(3)], "mean_difference")
    r = bootstrap_ci([np.arange(10.0)], "mean", seed=1)
    assert r.seed == 1 and r.n_resamples == 2000 and r.as_dict()["paired"] is False
