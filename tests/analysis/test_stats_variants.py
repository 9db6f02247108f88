"""The variants a methods section may name, each against an independent implementation:
the two-sided permutation rules (scipy), free-marginal kappa (statsmodels), Cohen's kappa
with its asymptotic SE (the Fleiss, Cohen & Everitt 1969 formulas written out here), d_av
and d_rm (Lakens 2013's worked example), Wilson intervals (statsmodels) and Bradley–Terry
standard errors and deviance (a statsmodels logistic GLM)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.stats import (
    binomial_test,
    bradley_terry,
    cohens_kappa,
    fleiss_kappa,
    free_marginal_kappa,
    icc_all,
    icc_variance_components,
    paired_permutation_test,
    preference_permutation_test,
    sign_test_counts,
    two_sample_permutation_test,
)

FAST = settings(max_examples=30, deadline=None)
ratings = st.integers(min_value=1, max_value=7).map(float)


# --------------------------------------------------------------------------------------
# two-sided permutation rules
# --------------------------------------------------------------------------------------


@FAST
@given(
    a=st.lists(ratings, min_size=2, max_size=5),
    b=st.lists(ratings, min_size=3, max_size=7),
)
def test_doubled_two_sided_rule_is_scipys(a, b):
    a, b = np.array(a), np.array(b)
    ours = two_sample_permutation_test(a, b, exact=True, two_sided="doubled")
    ref = stats.permutation_test(
        (a, b),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        alternative="two-sided",
        n_resamples=10**6,
    )
    assert ours.p == pytest.approx(ref.pvalue, abs=1e-12)
    assert "2 x smaller one-sided p" in ours.method


def test_two_sided_rules_differ_where_the_null_is_skewed_and_label_says_which():
    # unequal group sizes with an outlier: the label-permutation null is not symmetric
    a, b = np.array([0.0, 0.0, 9.0]), np.array([1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0])
    absolute = two_sample_permutation_test(a, b, exact=True)
    doubled = two_sample_permutation_test(a, b, exact=True, two_sided="doubled")
    greater = two_sample_permutation_test(a, b, exact=True, alternative="greater").p
    less = two_sample_permutation_test(a, b, exact=True, alternative="less").p
    assert doubled.p == pytest.approx(min(1.0, 2 * min(greater, less)))
    assert absolute.p != pytest.approx(doubled.p)
    assert "|T*| >= |T|" in absolute.method and "|T*|" not in doubled.method
    # one-sided alternatives ignore the rule
    one = two_sample_permutation_test(a, b, exact=True, alternative="less", two_sided="doubled")
    assert one.p == less


def test_doubled_rule_monte_carlo_and_preferences():
    rng = np.random.default_rng(3)
    d = rng.normal(0.3, 1.0, 40)
    mc = paired_permutation_test(d, n_resamples=4000, seed=1, two_sided="doubled")
    g = paired_permutation_test(d, n_resamples=4000, seed=1, alternative="greater").p
    le = paired_permutation_test(d, n_resamples=4000, seed=1, alternative="less").p
    # the same resamples count both tails
    assert mc.p == pytest.approx(min(1.0, 2 * min(g, le)))
    prefs = ["a"] * 9 + ["b"] * 3 + ["tie"] * 4
    exact = preference_permutation_test(prefs, exact=True, two_sided="doubled")
    ref = stats.binomtest(9, 12, 0.5).pvalue  # symmetric null: doubling = the sign test
    assert exact.p == pytest.approx(ref)
    with pytest.raises(ValueError, match="two_sided"):
        paired_permutation_test(d, two_sided="both")  # type: ignore[arg-type]


def test_absolute_rule_unchanged_default():
    d = np.array([1.0, -2.0, 3.0, 0.5, 2.0, -1.0, 4.0])
    assert paired_permutation_test(d, exact=True).p == pytest.approx(
        np.mean(
            [
                abs(np.dot(s, d)) >= abs(d.sum()) - 1e-9
                for s in np.array(np.meshgrid(*[[1, -1]] * d.size)).reshape(d.size, -1).T
            ]
        )
    )
    assert not math.isnan(paired_permutation_test(d, exact=True).p)


# --------------------------------------------------------------------------------------
# kappas
# --------------------------------------------------------------------------------------


@FAST
@given(
    table=st.lists(
        # 4 raters' labels among 3 categories -> one row of counts
        st.lists(st.integers(0, 2), min_size=4, max_size=4).map(
            lambda labels: np.bincount(labels, minlength=3).tolist()
        ),
        min_size=2,
        max_size=12,
    )
)
def test_free_marginal_kappa_matches_statsmodels_randolph(table):
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

    t = np.array(table, dtype=float)
    ours = free_marginal_kappa(t)
    assert ours.kappa == pytest.approx(sm_fleiss(t, method="randolph"), abs=1e-12)
    assert ours.p_expected == pytest.approx(1 / 3) and ours.n_categories == 3
    assert "1/K, K = 3" in ours.method


def test_free_marginal_kappa_counts_unused_categories():
    ratings = [[1, 1, 2], [2, 2, 2], [1, 1, 1]]
    two = free_marginal_kappa(ratings, kind="ratings")
    five = free_marginal_kappa(ratings, kind="ratings", categories=[1, 2, 3, 4, 5])
    p_bar = np.mean([1 / 3, 1.0, 1.0])
    assert two.kappa == pytest.approx((p_bar - 0.5) / 0.5)
    assert five.kappa == pytest.approx((p_bar - 0.2) / 0.8)
    # Fleiss' kappa does not depend on categories nobody used
    assert fleiss_kappa(ratings, kind="ratings", categories=[1, 2, 3, 4, 5]).kappa == (
        pytest.approx(fleiss_kappa(ratings, kind="ratings").kappa)
    )


def _fce_1969(table: np.ndarray) -> tuple[float, float, float]:
    """Unweighted kappa, its SE and null SE written out from Fleiss, Cohen & Everitt (1969)."""
    p = table / table.sum()
    n = table.sum()
    r, c = p.sum(1), p.sum(0)
    po, pe = np.trace(p), r @ c
    kappa = (po - pe) / (1 - pe)
    a = sum(p[i, i] * (1 - (r[i] + c[i]) * (1 - kappa)) ** 2 for i in range(len(p)))
    b = (1 - kappa) ** 2 * sum(
        p[i, j] * (c[i] + r[j]) ** 2 for i in range(len(p)) for j in range(len(p)) if i != j
    )
    cc = (kappa - pe * (1 - kappa)) ** 2
    se = math.sqrt((a + b - cc) / n) / (1 - pe)
    se0 = math.sqrt(pe + pe**2 - sum(r[i] * c[i] * (r[i] + c[i]) for i in range(len(p)))) / (
        (1 - pe) * math.sqrt(n)
    )
    return kappa, se, se0


def test_cohens_kappa_asymptotic_se_ci_and_z():
    # Fleiss (1981)'s 3-category diagnosis table: proportions x 100 subjects
    table = np.array([[44, 7, 9], [5, 20, 5], [1, 3, 6]])
    r1 = np.repeat(np.repeat(np.arange(3), 3), table.ravel())
    r2 = np.repeat(np.tile(np.arange(3), 3), table.ravel())
    res = cohens_kappa(r1, r2, confidence=0.9)
    kappa, se, se0 = _fce_1969(table.astype(float))
    assert res.kappa == pytest.approx(0.29 / 0.59) and res.kappa == pytest.approx(kappa)
    assert (res.se, res.se_null) == pytest.approx((se, se0), rel=1e-12)
    assert res.z == pytest.approx(kappa / se0)
    assert res.p == pytest.approx(stats.norm.sf(kappa / se0))
    half = stats.norm.ppf(0.95) * se
    assert (res.ci_low, res.ci_high) == pytest.approx((kappa - half, kappa + half))
    assert "Fleiss, Cohen & Everitt 1969" in res.method and "90% interval" in res.method
    weighted = cohens_kappa(r1, r2, weights="quadratic")
    assert weighted.se > 0 and weighted.ci_low < weighted.kappa < weighted.ci_high
    same = cohens_kappa([1, 1, 1], [1, 1, 1])
    assert math.isnan(same.kappa) and math.isnan(same.se)


# --------------------------------------------------------------------------------------
# ICC from variance components
# --------------------------------------------------------------------------------------


def test_variance_components_icc_is_shrout_fleiss_on_complete_data():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, (30, 1)) + rng.normal(0, 1, (1, 4)) + rng.normal(0, 1.5, (30, 4))
    items, raters = np.repeat(np.arange(30), 4), np.tile(np.arange(4), 30)
    vc = icc_variance_components(items, raters, x.ravel())
    sf = icc_all(x)
    assert vc.icc_single == pytest.approx(sf["ICC(2,1)"].value, rel=1e-10)
    assert vc.icc_average == pytest.approx(sf["ICC(2,k)"].value, rel=1e-10)
    assert vc.k == 4 and vc.n_components == 1


# Shrout & Fleiss (1979), Table 2; the ICC(2,1) / ICC(2,4) 95% intervals as pingouin and
# R psych::ICC print them: [0.02, 0.76] and [0.07, 0.93]
_SF = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]],
    dtype=float,
)


def _mcgraw_wong_a1(x: np.ndarray, confidence: float) -> tuple[float, float]:
    """McGraw & Wong (1996) ICC(A,1) interval, written out from the two-way ANOVA."""
    n, k = x.shape
    g = x.mean()
    msr = k * ((x.mean(axis=1) - g) ** 2).sum() / (n - 1)
    msc = n * ((x.mean(axis=0) - g) ** 2).sum() / (k - 1)
    res = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + g
    mse = (res**2).sum() / ((n - 1) * (k - 1))
    p = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    a = k * p / (n * (1 - p))
    b = 1 + k * p * (n - 1) / (n * (1 - p))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / ((n - 1) * (k - 1)))
    q = 1 - (1 - confidence) / 2
    fs, fs2 = stats.f.ppf(q, n - 1, v), stats.f.ppf(q, v, n - 1)
    lo = n * (msr - fs * mse) / (fs * (k * msc + (k * n - k - n) * mse) + n * msr)
    hi = n * (fs2 * msr - mse) / (k * msc + (k * n - k - n) * mse + n * fs2 * msr)
    return lo, hi


@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_variance_components_interval_is_mcgraw_wong_on_complete_data(confidence):
    rng = np.random.default_rng(2)
    for x in (_SF, rng.normal(0, 1, (15, 1)) + rng.normal(0, 1, (15, 5))):
        n, k = x.shape
        vc = icc_variance_components(
            np.repeat(np.arange(n), k), np.tile(np.arange(k), n), x.ravel(), confidence=confidence
        )
        lo, hi = _mcgraw_wong_a1(x, confidence)
        assert (vc.ci_low, vc.ci_high) == pytest.approx((lo, hi), rel=1e-9)
        sb = [k * r / (1 + (k - 1) * r) for r in (lo, hi)]
        assert (vc.ci_average_low, vc.ci_average_high) == pytest.approx(sb, rel=1e-9)
        assert vc.confidence == confidence
    sf = icc_variance_components(np.repeat(np.arange(6), 4), np.tile(np.arange(4), 6), _SF.ravel())
    assert (round(sf.ci_low, 2), round(sf.ci_high, 2)) == (0.02, 0.76)
    assert (round(sf.ci_average_low, 2), round(sf.ci_average_high, 2)) == (0.07, 0.93)


def test_variance_components_interval_covers_the_true_icc_with_missing_cells():
    # 30 items x 6 raters, 30% of the cells missing at random; ICC(A,1) = 1 / 2.3
    rng = np.random.default_rng(3)
    true, hits, reps = 1.0 / 2.3, 0, 250
    for _ in range(reps):
        y = rng.normal(0, 1, (30, 1)) + rng.normal(0, 0.3**0.5, (1, 6)) + rng.normal(0, 1, (30, 6))
        items, raters = np.nonzero(rng.random((30, 6)) > 0.3)
        vc = icc_variance_components(items, raters, y[items, raters])
        hits += vc.ci_low <= true <= vc.ci_high
    assert 0.91 <= hits / reps <= 0.985  # binomial SE at 250 repetitions: 0.014


def test_variance_components_icc_recovers_known_components_in_a_sparse_design():
    # crowdsourcing layout: 300 items, 60 raters in overlapping groups, 3 ratings per item
    rng = np.random.default_rng(1)
    n_items, n_raters = 300, 60
    a, b = rng.normal(0, 2.0, n_items), rng.normal(0, 1.0, n_raters)
    items, raters = [], []
    for i in range(n_items):
        for r in rng.choice(12, 3, replace=False):
            items.append(i)
            raters.append((i // 25) * 4 + r % 12 if (i // 25) * 4 + r < n_raters else r)
    items, raters = np.array(items), np.array(raters)
    cells = np.unique(np.c_[items, raters], axis=0)
    items, raters = cells[:, 0], cells[:, 1]
    y = 50 + a[items] + b[raters] + rng.normal(0, 1.5, items.size)
    vc = icc_variance_components(items, raters, y)
    assert vc.var_items == pytest.approx(4.0, rel=0.25)
    assert vc.var_residual == pytest.approx(2.25, rel=0.15)
    with pytest.raises(ValueError, match="separate"):
        icc_variance_components([0, 0, 1, 1], [0, 1, 2, 3], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="one rating per"):
        icc_variance_components([0, 0], [1, 1], [1.0, 2.0])


# --------------------------------------------------------------------------------------
# binomial intervals
# --------------------------------------------------------------------------------------


@FAST
@given(n=st.integers(1, 60), frac=st.floats(0, 1), conf=st.sampled_from([0.9, 0.95, 0.99]))
def test_wilson_beside_clopper_pearson_match_statsmodels(n, frac, conf):
    from statsmodels.stats.proportion import proportion_confint

    k = int(round(frac * n))
    res = binomial_test(k, n, confidence=conf)
    cp = proportion_confint(k, n, alpha=1 - conf, method="beta")
    wilson = proportion_confint(k, n, alpha=1 - conf, method="wilson")
    assert (res.ci_low, res.ci_high) == pytest.approx(cp, abs=1e-9)
    assert (res.wilson_low, res.wilson_high) == pytest.approx(wilson, abs=1e-9)
    sign = sign_test_counts(k, n - k, 3, confidence=conf)
    assert (sign.wilson_low, sign.wilson_high) == pytest.approx(wilson, abs=1e-9)


def test_one_sided_wilson_bound():
    from statsmodels.stats.proportion import proportion_confint

    res = binomial_test(14, 20, alternative="greater", confidence=0.95)
    # a one-sided 95 % bound is one end of the two-sided 90 % interval
    assert res.wilson_low == pytest.approx(proportion_confint(14, 20, 0.1, "wilson")[0])
    assert res.wilson_high == 1.0 and "Wilson" in res.method


# --------------------------------------------------------------------------------------
# Bradley–Terry as a logistic GLM
# --------------------------------------------------------------------------------------


def _bt_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    names, true = ["a", "b", "c", "d"], np.array([0.5, 0.0, -0.3, 0.8])
    wins, ties = [], []
    for _ in range(300):
        i, j = rng.choice(4, 2, replace=False)
        u = rng.random()
        if u < 0.1:
            ties.append((names[i], names[j]))
        elif u < 0.1 + 0.9 / (1 + np.exp(true[j] - true[i])):
            wins.append((names[i], names[j]))
        else:
            wins.append((names[j], names[i]))
    return names, wins, ties


def _statsmodels_bt(w: np.ndarray, ref: int):
    import statsmodels.api as sm

    counts, design = [], []
    for i in range(len(w)):
        for j in range(i + 1, len(w)):
            if w[i, j] + w[j, i] > 0:
                counts.append([w[i, j], w[j, i]])
                x = np.zeros(len(w))
                x[i], x[j] = 1.0, -1.0
                design.append(np.delete(x, ref))
    return sm.GLM(np.array(counts), np.array(design), family=sm.families.Binomial()).fit()


def test_bradley_terry_se_and_deviance_match_a_statsmodels_glm():
    names, wins, ties = _bt_data()
    res = bradley_terry(wins, ties=ties, systems=names, n_resamples=0, reference="b")
    glm = _statsmodels_bt(res.wins, 1)
    others = [0, 2, 3]
    assert res.log_strength[1] == 0 and res.se[1] == 0
    assert res.log_strength[others] == pytest.approx(glm.params, abs=1e-8)
    assert res.se[others] == pytest.approx(glm.bse, rel=1e-6)
    assert res.deviance == pytest.approx(glm.deviance, rel=1e-8)
    assert res.df_residual == glm.df_resid == 3
    assert "log-strength of b = 0" in res.method and "logistic-GLM" in res.method
    # sum-to-zero: the same fit shifted; SEs from the centred covariance
    free = bradley_terry(wins, ties=ties, systems=names, n_resamples=0)
    assert free.log_strength == pytest.approx(res.log_strength - res.log_strength.mean())
    cov = np.zeros((4, 4))
    cov[np.ix_(others, others)] = glm.cov_params()
    centre = np.eye(4) - 1 / 4
    assert free.se == pytest.approx(np.sqrt(np.diag(centre @ cov @ centre)), rel=1e-6)
    assert free.deviance == pytest.approx(res.deviance)
    with pytest.raises(ValueError, match="reference"):
        bradley_terry(wins, ties=ties, systems=names, reference="zz")


def test_bradley_terry_reference_moves_the_bootstrap_intervals_too():
    names, wins, ties = _bt_data(1)
    res = bradley_terry(wins, ties=ties, systems=names, n_resamples=300, seed=2, reference="a")
    assert res.log_ci_low[0] == res.log_ci_high[0] == 0.0
    assert (res.log_ci_low <= res.log_strength + 1e-12).all()
    assert (res.log_strength <= res.log_ci_high + 1e-12).all()
