"""t-tests, permutation tests, sign/binomial tests and corrections vs scipy / statsmodels."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

import analysis.stats._base as base
from analysis.stats import (
    binomial_test,
    bonferroni,
    holm,
    paired_permutation_test,
    paired_permutation_tests,
    paired_t_test,
    sign_test,
    sign_test_counts,
    student_t_test,
    two_sample_permutation_test,
    two_sample_permutation_tests,
    two_sample_t_test,
    welch_t_test,
)

ALTS = ["two-sided", "greater", "less"]
FAST = settings(max_examples=40, deadline=None)
# statistical comparisons: derandomised so a (very unlikely) Monte-Carlo miss is stable
STAT = settings(max_examples=15, deadline=None, derandomize=True)

ratings = st.integers(min_value=1, max_value=7).map(float)
reals = st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False)


def mc_tolerance(p: float, m: int, z: float = 5.0) -> float:
    """Allowed |p_mc - p_exact|: z binomial SEs plus the (b+1)/(m+1) offset."""
    return z * math.sqrt(max(p * (1 - p), 1.0 / m) / m) + 2.0 / m


# --------------------------------------------------------------------------------------
# t-tests
# --------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
@FAST
@given(
    data=st.lists(st.tuples(reals, reals), min_size=2, max_size=40),
    alternative=st.sampled_from(ALTS),
)
def test_paired_t_matches_scipy(data, alternative):
    a = np.array([x for x, _ in data])
    b = np.array([y for _, y in data])
    d = a - b
    assume(np.std(d) > 1e-6 * (1 + np.abs(d).max()))
    ours = paired_t_test(a, b, alternative=alternative)
    ref = stats.ttest_rel(a, b, alternative=alternative)
    assert ours.t == pytest.approx(ref.statistic, rel=1e-8, abs=1e-10)
    assert ours.df == ref.df
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-12)
    lo, hi = ref.confidence_interval(0.95)
    assert ours.ci_low == pytest.approx(lo, rel=1e-8, abs=1e-9)
    assert ours.ci_high == pytest.approx(hi, rel=1e-8, abs=1e-9)
    assert ours.n == len(data)


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
@FAST
@given(
    a=st.lists(reals, min_size=2, max_size=30),
    b=st.lists(reals, min_size=2, max_size=30),
    equal_var=st.booleans(),
    alternative=st.sampled_from(ALTS),
)
def test_two_sample_t_matches_scipy(a, b, equal_var, alternative):
    a, b = np.array(a), np.array(b)
    assume(np.std(a) > 1e-6 * (1 + np.abs(a).max()) and np.std(b) > 1e-6 * (1 + np.abs(b).max()))
    ours = two_sample_t_test(a, b, equal_var=equal_var, alternative=alternative)
    ref = stats.ttest_ind(a, b, equal_var=equal_var, alternative=alternative)
    assert ours.t == pytest.approx(ref.statistic, rel=1e-8, abs=1e-10)
    assert ours.df == pytest.approx(ref.df, rel=1e-9)
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-12)
    lo, hi = ref.confidence_interval(0.95)
    assert ours.ci_low == pytest.approx(lo, rel=1e-7, abs=1e-9)
    assert ours.ci_high == pytest.approx(hi, rel=1e-7, abs=1e-9)
    assert (ours.n_a, ours.n_b) == (a.size, b.size)
    assert ("Student" in ours.method) == equal_var
    assert ("Welch" in ours.method) == (not equal_var)


def test_t_test_labels_and_direction():
    a, b = [3.0, 4.0, 5.0, 6.0], [1.0, 2.5, 2.0, 3.0]
    g = paired_t_test(a, b, alternative="greater")
    assert g.method == "paired t-test, one-sided (greater)"
    assert g.p < 0.05 and g.mean_diff > 0
    assert g.ci_high == math.inf
    w = welch_t_test(a, b, alternative="less")
    assert w.method == "Welch two-sample t-test (unequal variances), one-sided (less)"
    assert w.p > 0.9
    assert student_t_test(a, b).method.startswith("Student two-sample t-test")
    with pytest.raises(ValueError):
        paired_t_test(a, b, alternative="bigger")
    with pytest.raises(ValueError):
        paired_t_test(a, b[:3])


def test_t_test_edge_cases():
    # zero variance of the differences: constant non-zero shift -> infinite t, p = 0
    r = paired_t_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])
    assert r.t == math.inf and r.p == 0.0
    assert paired_t_test([2.0, 3.0, 4.0], [1.0, 2.0, 3.0], alternative="less").p == 1.0
    # identical samples -> undefined
    r = paired_t_test([1.0, 2.0], [1.0, 2.0])
    assert math.isnan(r.t) and math.isnan(r.p)
    # n = 1
    r = paired_t_test([1.0], [2.0])
    assert r.n == 1 and math.isnan(r.t) and math.isnan(r.p) and math.isnan(r.df)
    # missing values: the pair is dropped
    r = paired_t_test([1.0, 2.0, np.nan, 4.0], [0.0, 1.5, 3.0, 2.0])
    ref = stats.ttest_rel([1.0, 2.0, 4.0], [0.0, 1.5, 2.0])
    assert r.n == 3 and r.t == pytest.approx(ref.statistic)
    # Welch with zero variance in both groups
    r = welch_t_test([1.0, 1.0], [2.0, 2.0])
    assert r.t == -math.inf and r.p == 0.0
    # Welch needs two observations per group
    assert math.isnan(welch_t_test([1.0], [2.0, 3.0]).p)
    # Student with one observation in a group still works (df = 1)
    r = student_t_test([1.0], [2.0, 4.0])
    ref = stats.ttest_ind([1.0], [2.0, 4.0])
    assert r.p == pytest.approx(ref.pvalue)


# --------------------------------------------------------------------------------------
# Permutation tests
# --------------------------------------------------------------------------------------


def _scipy_paired_exact(d, alternative):
    return stats.permutation_test(
        (d,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        alternative=alternative,
        n_resamples=10**6,
    ).pvalue


@FAST
@given(
    d=st.lists(st.integers(-4, 4).map(float), min_size=2, max_size=10),
    alternative=st.sampled_from(ALTS),
)
def test_paired_permutation_exact_matches_scipy(d, alternative):
    d = np.array(d)
    ours = paired_permutation_test(d, alternative=alternative, exact=True)
    assert ours.exact and ours.n_resamples == 2**d.size
    assert ours.p == pytest.approx(_scipy_paired_exact(d, alternative), abs=1e-12)
    assert ours.statistic == pytest.approx(d.mean())


@FAST
@given(
    a=st.lists(ratings, min_size=2, max_size=6),
    b=st.lists(ratings, min_size=2, max_size=6),
    alternative=st.sampled_from(ALTS),
)
def test_two_sample_permutation_exact_matches_scipy(a, b, alternative):
    a, b = np.array(a), np.array(b)
    ours = two_sample_permutation_test(a, b, alternative=alternative, exact=True)
    assert ours.exact and ours.n_resamples == math.comb(a.size + b.size, a.size)
    if alternative == "two-sided":
        # ours counts |T*| >= |T|: scipy with the absolute statistic, one-sided
        ref = stats.permutation_test(
            (a, b),
            lambda x, y, axis: np.abs(np.mean(x, axis=axis) - np.mean(y, axis=axis)),
            alternative="greater",
            n_resamples=10**6,
        )
    else:
        ref = stats.permutation_test(
            (a, b),
            lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
            alternative=alternative,
            n_resamples=10**6,
        )
    assert ours.p == pytest.approx(ref.pvalue, abs=1e-12)


@STAT
@given(
    d=st.lists(st.integers(-3, 4).map(float), min_size=14, max_size=14),
    alternative=st.sampled_from(ALTS),
    seed=st.integers(0, 2**31),
)
def test_paired_permutation_monte_carlo_within_error(d, alternative, seed):
    d = np.array(d)
    exact = _scipy_paired_exact(d, alternative)  # 2^14 = 16384 sign vectors
    m = 4000
    ours = paired_permutation_test(d, alternative=alternative, n_resamples=m, seed=seed)
    assert not ours.exact and ours.n_resamples == m and ours.seed == seed
    assert abs(ours.p - exact) <= mc_tolerance(exact, m)
    assert ours.p >= 1 / (m + 1)


@STAT
@given(
    a=st.lists(ratings, min_size=7, max_size=7),
    b=st.lists(ratings, min_size=7, max_size=7),
    alternative=st.sampled_from(ALTS),
    seed=st.integers(0, 2**31),
)
def test_two_sample_permutation_monte_carlo_within_error(a, b, alternative, seed):
    a, b = np.array(a), np.array(b)
    exact = two_sample_permutation_test(a, b, alternative=alternative, exact=True).p
    m = 4000
    ours = two_sample_permutation_test(
        a, b, alternative=alternative, n_resamples=m, seed=seed, exact=False
    )
    assert not ours.exact
    assert abs(ours.p - exact) <= mc_tolerance(exact, m)


def test_permutation_against_scipy_monte_carlo_large_n():
    rng = np.random.default_rng(7)
    a = rng.integers(1, 6, 80).astype(float)
    b = np.clip(a + rng.integers(-1, 2, 80), 1, 5)
    m = 20_000
    ours = paired_permutation_test(a, b, n_resamples=m, seed=1, alternative="greater")
    ref = stats.permutation_test(
        (a - b,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        alternative="greater",
        n_resamples=m,
        rng=2,
    ).pvalue
    assert abs(ours.p - ref) <= math.sqrt(2) * mc_tolerance(ref, m)
    x, y = rng.normal(0, 1, 60), rng.normal(0.4, 1, 45)
    ours = two_sample_permutation_test(x, y, n_resamples=m, seed=3, alternative="less")
    ref = stats.permutation_test(
        (x, y),
        lambda u, v, axis: np.mean(u, axis=axis) - np.mean(v, axis=axis),
        alternative="less",
        n_resamples=m,
        rng=4,
    ).pvalue
    assert abs(ours.p - ref) <= math.sqrt(2) * mc_tolerance(ref, m)


def test_batched_permutation_equals_single_calls():
    rng = np.random.default_rng(3)
    # continuous differences: every row uses the shared sign matrix
    diffs = rng.normal(size=(4, 50))
    batch = paired_permutation_tests(diffs, n_resamples=3000, seed=11)
    for j in range(4):
        single = paired_permutation_test(diffs[j], n_resamples=3000, seed=11)
        assert batch[j].p == single.p
        assert batch[j].statistic == single.statistic
        assert "counts per distinct value" not in batch[j].method
    a = rng.normal(size=(3, 12))
    b = rng.normal(size=(3, 9))
    batch2 = two_sample_permutation_tests(a, b, n_resamples=2000, seed=5)
    for j in range(3):
        assert batch2[j].p == two_sample_permutation_test(a[j], b[j], n_resamples=2000, seed=5).p


@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_count_path_for_discrete_data_matches_scipy(alternative):
    rng = np.random.default_rng(12)
    m = 4000
    # Likert differences, large n: few distinct |d| -> binomial counts, not a sign matrix
    d = rng.integers(-2, 3, 1600).astype(float) + (rng.random(1600) < 0.08)
    ours = paired_permutation_test(d, n_resamples=m, seed=1, alternative=alternative)
    assert "counts per distinct value" in ours.method
    ref = stats.permutation_test(
        (d,),
        lambda x, axis: np.mean(x, axis=axis),
        permutation_type="samples",
        alternative=alternative,
        n_resamples=m,
        rng=2,
    ).pvalue
    assert abs(ours.p - ref) <= math.sqrt(2) * mc_tolerance(ref, m)
    # two samples of ratings: multivariate hypergeometric counts
    x = rng.integers(1, 6, 90).astype(float)
    y = np.clip(rng.integers(1, 6, 70) + (rng.random(70) < 0.3), 1, 5).astype(float)
    ours = two_sample_permutation_test(x, y, n_resamples=m, seed=3, alternative=alternative)
    assert "counts per distinct value" in ours.method
    stat = (
        (lambda u, v, axis: np.abs(np.mean(u, axis=axis) - np.mean(v, axis=axis)))
        if alternative == "two-sided"
        else (lambda u, v, axis: np.mean(u, axis=axis) - np.mean(v, axis=axis))
    )
    ref = stats.permutation_test(
        (x, y),
        stat,
        alternative="greater" if alternative == "two-sided" else alternative,
        n_resamples=m,
        rng=4,
    ).pvalue
    assert abs(ours.p - ref) <= math.sqrt(2) * mc_tolerance(ref, m)
    # a batch mixing both paths: the discrete row still agrees with its single call's law
    mixed = paired_permutation_tests(
        np.vstack([d, rng.normal(size=d.size)]), n_resamples=m, seed=9, alternative=alternative
    )
    assert "counts per distinct value" in mixed[0].method
    assert "counts per distinct value" not in mixed[1].method
    single = paired_permutation_test(d, n_resamples=m, seed=10, alternative=alternative)
    assert abs(mixed[0].p - single.p) <= 2 * mc_tolerance(single.p, m)


def test_permutation_seed_reproducible_and_chunking(monkeypatch):
    rng = np.random.default_rng(0)
    d = rng.normal(0.2, 1, 300)
    r1 = paired_permutation_test(d, n_resamples=5000, seed=42)
    r2 = paired_permutation_test(d, n_resamples=5000, seed=42)
    assert r1.p == r2.p
    # exact enumeration split across many tiny chunks gives the same answer
    small = rng.integers(-3, 4, 12).astype(float)
    full = paired_permutation_test(small, exact=True)
    monkeypatch.setattr(base, "CHUNK_BYTES", 64)
    chunked = paired_permutation_test(small, exact=True)
    assert chunked.p == full.p
    # Monte Carlo in tiny chunks is still a valid test (within MC error of unchunked)
    mc = paired_permutation_test(d, n_resamples=5000, seed=1)
    assert abs(mc.p - r1.p) <= 2 * mc_tolerance(r1.p, 5000)
    x, y = rng.normal(size=8), rng.normal(size=7)
    chunked2 = two_sample_permutation_test(x, y, exact=True)
    monkeypatch.setattr(base, "CHUNK_BYTES", 64 * 2**20)
    assert two_sample_permutation_test(x, y, exact=True).p == chunked2.p


def test_permutation_edge_cases():
    # all-zero differences: the statistic never moves, p = 1
    r = paired_permutation_test(np.zeros(20), n_resamples=999, seed=0)
    assert r.p == 1.0
    # n = 1 -> exact over 2 sign vectors
    r = paired_permutation_test([3.0], alternative="greater")
    assert r.exact and r.p == 0.5
    # empty after dropping NaN
    r = paired_permutation_test([np.nan], [1.0])
    assert r.n == 0 and math.isnan(r.p)
    # NaN pairs dropped
    r = paired_permutation_test([1.0, 2.0, np.nan], [0.0, 0.0, 1.0], exact=True)
    assert r.n == 2
    with pytest.raises(ValueError):
        paired_permutation_tests(np.array([[1.0, np.nan]]))
    r = two_sample_permutation_test([1.0, 1.0, 1.0], [1.0, 1.0])
    assert r.p == 1.0
    assert math.isnan(two_sample_permutation_test([], [1.0]).p)
    with pytest.raises(ValueError):
        paired_permutation_test([1.0], n_resamples=0)


def test_monte_carlo_p_formula():
    # a strong effect: no resample reaches the observed mean, so p = 1/(m+1)
    r = paired_permutation_test(np.full(40, 1.0) + np.linspace(0, 0.1, 40), n_resamples=999, seed=1)
    assert r.p == pytest.approx(1 / 1000)
    assert "(b+1)/(m+1)" in r.method


# --------------------------------------------------------------------------------------
# Binomial / sign tests
# --------------------------------------------------------------------------------------


@FAST
@given(
    n=st.integers(1, 200),
    frac=st.floats(0, 1),
    p0=st.sampled_from([0.5, 0.3, 0.75, 0.1]),
    alternative=st.sampled_from(ALTS),
)
def test_binomial_matches_scipy(n, frac, p0, alternative):
    k = int(round(frac * n))
    ours = binomial_test(k, n, p0, alternative=alternative)
    ref = stats.binomtest(k, n, p0, alternative=alternative)
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-14)
    ci = ref.proportion_ci(confidence_level=0.95, method="exact")
    assert ours.ci_low == pytest.approx(ci.low, rel=1e-9, abs=1e-12)
    assert ours.ci_high == pytest.approx(ci.high, rel=1e-9, abs=1e-12)


@FAST
@given(
    prefs=st.lists(st.sampled_from(["a", "b", "tie"]), min_size=1, max_size=80),
    alternative=st.sampled_from(ALTS),
)
def test_sign_test_matches_binomtest(prefs, alternative):
    wa, wb, wt = prefs.count("a"), prefs.count("b"), prefs.count("tie")
    res = sign_test(prefs, alternative=alternative)
    assert (res.wins_a, res.wins_b, res.ties, res.n) == (wa, wb, wt, wa + wb)
    assert f"ties excluded ({wt} tie" in res.method
    if wa + wb == 0:
        assert math.isnan(res.p)
    else:
        ref = stats.binomtest(wa, wa + wb, 0.5, alternative=alternative)
        assert res.p == pytest.approx(ref.pvalue, rel=1e-9)
    # numeric coding gives the same answer
    coded = [{"a": 1, "b": -1, "tie": 0}[p] for p in prefs]
    assert sign_test(coded, alternative=alternative).as_dict() == res.as_dict()


def test_sign_test_edge_cases():
    r = sign_test(["tie"] * 5)
    assert r.n == 0 and r.ties == 5 and math.isnan(r.p) and math.isnan(r.share_a)
    r = sign_test_counts(10, 0, 3, alternative="greater")
    assert r.p == pytest.approx(0.5**10)
    assert r.method.endswith("ties excluded (3 ties dropped)")
    r = sign_test(["a", None, np.nan, "b"])
    assert (r.wins_a, r.wins_b, r.ties) == (1, 1, 0)
    with pytest.raises(ValueError):
        sign_test(["a", "maybe"])
    with pytest.raises(ValueError):
        binomial_test(5, 3)


# --------------------------------------------------------------------------------------
# Multiple comparisons
# --------------------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)  # multipletests itself takes ~40 ms a call
@given(p=st.lists(st.floats(0, 1), min_size=1, max_size=25), alpha=st.sampled_from([0.05, 0.1]))
def test_corrections_match_statsmodels(p, alpha):
    for ours, name in ((bonferroni(p, alpha=alpha), "bonferroni"), (holm(p, alpha=alpha), "holm")):
        reject, adj, _, _ = multipletests(p, alpha=alpha, method=name)
        np.testing.assert_allclose(ours.p_adjusted, adj, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(ours.reject, reject)
        assert ours.m == len(p)
        assert np.all(ours.p_adjusted <= 1.0)


@FAST
@given(p=st.lists(st.floats(0, 1), min_size=2, max_size=25))
def test_holm_monotone_and_between(p):
    res = holm(p)
    order = np.argsort(p, kind="stable")
    assert np.all(np.diff(res.p_adjusted[order]) >= -1e-15)
    assert np.all(res.p_adjusted >= np.asarray(p) - 1e-15)
    assert np.all(res.p_adjusted <= bonferroni(p).p_adjusted + 1e-15)


def test_corrections_with_nan_and_labels():
    res = holm([0.01, np.nan, 0.04])
    assert res.m == 3
    assert math.isnan(res.p_adjusted[1]) and not res.reject[1]
    assert res.p_adjusted[0] == pytest.approx(0.03)
    assert res.p_adjusted[2] == pytest.approx(0.08)
    assert bonferroni([0.2, 0.5]).p_adjusted.tolist() == [0.4, 1.0]
    assert "Holm" in res.method and "m=3" in res.method
    with pytest.raises(ValueError):
        holm([1.5])


def test_results_serialise_to_json():
    results = [
        paired_t_test([1.0, 2.0, 4.0], [0.5, 2.5, 1.0]),
        paired_permutation_test([1.0, -2.0, 3.0], seed=1),
        sign_test(["a", "b", "a"]),
        holm([0.1, 0.2]),
    ]
    for r in results:
        d = r.as_dict()
        assert d["method"] == r.label
        json.dumps(d)
