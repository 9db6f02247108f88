"""Win/tie/loss, Bradley–Terry and preference permutation tests."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.stats import (
    bradley_terry,
    bt_wins_matrix,
    paired_permutation_test,
    preference_permutation_test,
    preference_permutation_tests,
    sign_test,
    win_tie_loss,
)

FAST = settings(max_examples=40, deadline=None)
ALTS = ["two-sided", "greater", "less"]


def test_win_tie_loss_counts_and_shares():
    res = win_tie_loss(["a", "a", "b", "tie", "a", None, "tie"])
    assert (res.wins_a, res.ties, res.wins_b, res.n) == (3, 2, 1, 6)
    assert res.share_a == pytest.approx(0.5)
    assert res.share_tie == pytest.approx(1 / 3)
    assert res.share_b == pytest.approx(1 / 6)
    assert res.share_a_excl_ties == pytest.approx(0.75)
    assert res.share_a + res.share_tie + res.share_b == pytest.approx(1.0)
    assert win_tie_loss([1, 0, -1, 1]).as_dict() == win_tie_loss(["a", "tie", "b", "a"]).as_dict()
    custom = win_tie_loss(["left", "right", "same"], a="left", b="right", tie="same")
    assert (custom.wins_a, custom.ties, custom.wins_b) == (1, 1, 1)


def test_win_tie_loss_edge_cases():
    all_ties = win_tie_loss(["tie"] * 4)
    assert all_ties.share_tie == 1.0 and math.isnan(all_ties.share_a_excl_ties)
    empty = win_tie_loss([])
    assert empty.n == 0 and math.isnan(empty.share_a)


# --------------------------------------------------------------------------------------
# Preference permutation test
# --------------------------------------------------------------------------------------


@FAST
@given(
    prefs=st.lists(st.sampled_from([1, 0, -1]), min_size=1, max_size=14),
    alternative=st.sampled_from(ALTS),
)
def test_preference_exact_equals_sign_flip_enumeration_and_sign_test(prefs, alternative):
    prefs = np.array(prefs, dtype=float)
    ours = preference_permutation_test(prefs, alternative=alternative, exact=True)
    enumerated = paired_permutation_test(prefs, alternative=alternative, exact=True)
    assert ours.p == pytest.approx(enumerated.p, abs=1e-12)
    nonzero = prefs[prefs != 0]
    if nonzero.size:
        # conditional on ties, the exact sign-flip test is the sign test
        ref = stats.binomtest(int((nonzero > 0).sum()), nonzero.size, 0.5, alternative=alternative)
        assert ours.p == pytest.approx(ref.pvalue, abs=1e-12)


@settings(max_examples=10, deadline=None, derandomize=True)
@given(
    p_a=st.floats(0.2, 0.6),
    seed=st.integers(0, 2**31),
    alternative=st.sampled_from(ALTS),
)
def test_preference_monte_carlo_within_error(p_a, seed, alternative):
    rng = np.random.default_rng(seed)
    prefs = rng.choice([1, 0, -1], size=300, p=[p_a, 0.2, 0.8 - p_a])
    m = 5000
    exact = preference_permutation_test(prefs, alternative=alternative, exact=True).p
    mc = preference_permutation_test(prefs, alternative=alternative, n_resamples=m, seed=seed)
    assert not mc.exact
    tol = 5 * math.sqrt(max(exact * (1 - exact), 1 / m) / m) + 2 / m
    assert abs(mc.p - exact) <= tol
    # and the general sign-matrix implementation agrees within error too
    general = paired_permutation_test(prefs, alternative=alternative, n_resamples=m, seed=seed)
    assert abs(general.p - exact) <= tol


def test_preference_tests_edge_cases_and_batch():
    all_ties = preference_permutation_test(["tie"] * 30, n_resamples=999, seed=1)
    assert all_ties.p == 1.0 and all_ties.statistic == 0.0
    assert math.isnan(sign_test(["tie"] * 30).p)  # sign test: nothing to test
    labels = preference_permutation_test(["a", "b", "a", "a", None], exact=True)
    assert labels.n == 4 and labels.statistic == pytest.approx(0.5)
    mat = np.array([[1, 1, 1, 0, -1, 1] * 5, [0, 0, -1, 1, -1, 0] * 5], dtype=float)
    batch = preference_permutation_tests(mat, n_resamples=2000, seed=4)
    assert len(batch) == 2 and batch[0].p < batch[1].p
    assert "preference" in batch[0].method
    assert math.isnan(preference_permutation_test([None, np.nan]).p)


# --------------------------------------------------------------------------------------
# Bradley–Terry
# --------------------------------------------------------------------------------------


def _glm_log_strengths(w: np.ndarray) -> np.ndarray:
    """Independent fit: binomial GLM on pair counts with design +1/-1, system 0 as base."""
    k = w.shape[0]
    rows, y, n = [], [], []
    for i in range(k):
        for j in range(i + 1, k):
            total = w[i, j] + w[j, i]
            if total == 0:
                continue
            x = np.zeros(k)
            x[i], x[j] = 1.0, -1.0
            rows.append(x[1:])
            y.append(w[i, j] / total)
            n.append(total)
    with warnings.catch_warnings():  # statsmodels divides by df_resid = 0 for two systems
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = sm.GLM(
            np.array(y), np.array(rows), family=sm.families.Binomial(), var_weights=np.array(n)
        ).fit(tol=1e-12)
    beta = np.r_[0.0, fit.params]
    return beta - beta.mean()


@settings(max_examples=15, deadline=None)
@given(k=st.integers(2, 6), n=st.integers(30, 300), seed=st.integers(0, 2**31))
def test_bradley_terry_matches_glm(k, n, seed):
    rng = np.random.default_rng(seed)
    true = rng.normal(size=k)
    comps, ties = [], []
    for _ in range(n):
        i, j = rng.choice(k, 2, replace=False)
        if rng.random() < 0.1:
            ties.append((f"s{i}", f"s{j}"))
        elif rng.random() < 1 / (1 + math.exp(true[j] - true[i])):
            comps.append((f"s{i}", f"s{j}"))
        else:
            comps.append((f"s{j}", f"s{i}"))
    w, names = bt_wins_matrix(comps, ties)
    assume(len(names) == k)
    reach = (w > 0).astype(float) + np.eye(k)
    assume(np.all(np.linalg.matrix_power(reach, k) > 0))  # strongly connected
    res = bradley_terry(comps, ties=ties, n_resamples=200, seed=seed)
    assert res.converged
    np.testing.assert_allclose(res.log_strength, _glm_log_strengths(res.wins), atol=1e-6)
    assert res.log_strength.sum() == pytest.approx(0.0, abs=1e-9)
    assert np.all(res.log_ci_low <= res.log_strength + 1e-9)
    assert np.all(res.log_ci_high >= res.log_strength - 1e-9)


def test_bradley_terry_two_systems_closed_form_and_ties():
    # A beat B 6 times, B beat A 2 times, 2 ties -> A 7 and B 3 "wins"
    comps = [("A", "B")] * 6 + [("B", "A")] * 2
    res = bradley_terry(comps, ties=[("A", "B")] * 2, n_resamples=0)
    assert res.systems == ("A", "B")
    assert res.log_strength[0] - res.log_strength[1] == pytest.approx(math.log(7 / 3), abs=1e-8)
    assert res.win_probability("A", "B") == pytest.approx(0.7, abs=1e-8)
    assert res.wins[0, 1] == 7.0 and res.wins[1, 0] == 3.0
    assert np.prod(res.strength) == pytest.approx(1.0)
    assert "half a win" in res.method
    assert all(math.isnan(v) for v in res.ci_low)


def test_bradley_terry_wins_matrix_input_and_bootstrap():
    w = np.array([[0, 30, 25], [20, 0, 28], [15, 22, 0]], dtype=float)
    res = bradley_terry(wins=w, systems=["x", "y", "z"], n_resamples=1000, seed=7)
    again = bradley_terry(wins=w, systems=["x", "y", "z"], n_resamples=1000, seed=7)
    np.testing.assert_array_equal(res.ci_low, again.ci_low)
    assert res.n_comparisons == 140 and res.n_degenerate == 0
    np.testing.assert_allclose(res.log_strength, _glm_log_strengths(w), atol=1e-7)
    # bootstrap SD of log-strength close to the GLM standard error (large-sample theory)
    width = res.log_ci_high - res.log_ci_low
    assert np.all(width > 0.2) and np.all(width < 1.0)
    frame = res.to_frame()
    assert frame.columns.tolist()[:4] == ["system", "strength", "log_strength", "ci_low"]
    assert frame["wins"].tolist() == [55.0, 48.0, 37.0]
    json.dumps(res.as_dict())


def test_bradley_terry_degenerate():
    # C never wins nor ties: no finite MLE
    with pytest.raises(ValueError, match="strongly connected"):
        bradley_terry([("A", "B"), ("B", "A"), ("A", "C"), ("B", "C")])
    # sparse data: some bootstrap resamples are degenerate and are counted
    res = bradley_terry(
        [("A", "B"), ("B", "A"), ("B", "C"), ("C", "B"), ("C", "A"), ("A", "C")],
        n_resamples=500,
        seed=1,
    )
    assert 0 < res.n_degenerate < 500
    np.testing.assert_allclose(res.log_strength, 0.0, atol=1e-9)
    with pytest.raises(ValueError):
        bradley_terry([("A", "A")])
