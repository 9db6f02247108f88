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
    paired_permutation_test,
    preference_permutation_test,
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
