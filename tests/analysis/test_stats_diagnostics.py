"""Length bias, position effects and annotator quality."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from analysis.stats import annotator_quality, length_bias, position_effect

FAST = settings(max_examples=40, deadline=None)


@FAST
@given(
    data=st.lists(
        st.tuples(st.integers(1, 5).map(float), st.integers(3, 120).map(float)),
        min_size=3,
        max_size=60,
    )
)
def test_length_bias_matches_scipy(data):
    ratings = np.array([r for r, _ in data])
    lengths = np.array([n for _, n in data])
    assume(np.ptp(ratings) > 0 and np.ptp(lengths) > 0)
    res = length_bias(ratings, lengths)
    pr = stats.pearsonr(lengths, ratings)
    sr = stats.spearmanr(lengths, ratings)
    assert res.pearson_r == pytest.approx(pr.statistic, abs=1e-10)
    assert res.spearman_rho == pytest.approx(sr.statistic, abs=1e-10)
    if abs(pr.statistic) < 1 - 1e-9:
        assert res.pearson_p == pytest.approx(pr.pvalue, rel=1e-6, abs=1e-12)
    if abs(sr.statistic) < 1 - 1e-9:
        assert res.spearman_p == pytest.approx(sr.pvalue, rel=1e-6, abs=1e-12)
    assert res.n == len(data)


def test_length_bias_edge_cases():
    assert math.isnan(length_bias([1.0, 2.0], [3.0, 4.0]).pearson_r)  # n < 3
    assert math.isnan(length_bias([2.0, 2.0, 2.0], [1.0, 5.0, 9.0]).pearson_r)  # constant
    res = length_bias([1.0, 2.0, np.nan, 4.0, 3.0], [10.0, 20.0, 30.0, 45.0, np.nan])
    assert res.n == 3


@FAST
@given(
    data=st.lists(
        st.tuples(st.integers(1, 5).map(float), st.integers(0, 9).map(float)),
        min_size=4,
        max_size=60,
    )
)
def test_position_slope_matches_linregress(data):
    y = np.array([r for r, _ in data])
    x = np.array([p for _, p in data])
    assume(np.ptp(x) > 0 and np.ptp(y) > 0)
    res = position_effect(y, x)
    ref = stats.linregress(x, y)
    assert res.slope == pytest.approx(ref.slope, abs=1e-10)
    assert res.intercept == pytest.approx(ref.intercept, abs=1e-9)
    assert res.se == pytest.approx(ref.stderr, rel=1e-8, abs=1e-12)
    if ref.stderr > 0:
        assert res.p == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
    for pos, mean in res.means.items():
        assert mean == pytest.approx(y[x == pos].mean())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), n_groups=st.integers(2, 6))
def test_position_within_annotator_matches_ols_dummies(seed, n_groups):
    rng = np.random.default_rng(seed)
    n = 80
    g = rng.integers(0, n_groups, n)
    x = rng.integers(0, 10, n).astype(float)
    y = 3 + 0.5 * g - 0.05 * x + rng.normal(size=n)
    assume(np.unique(g).size == n_groups)
    res = position_effect(y, x, groups=[f"ann{v}" for v in g])
    fit = smf.ols("y ~ x + C(g)", data=pd.DataFrame({"y": y, "x": x, "g": g})).fit()
    assert res.slope == pytest.approx(fit.params["x"], rel=1e-9, abs=1e-12)
    assert res.se == pytest.approx(fit.bse["x"], rel=1e-9)
    assert res.p == pytest.approx(fit.pvalues["x"], rel=1e-7, abs=1e-14)
    assert res.df == fit.df_resid and res.n_groups == n_groups
    assert "fixed effects" in res.method


def test_position_edge_cases():
    res = position_effect([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])
    assert math.isnan(res.slope) and res.means == {1.0: 2.0}
    res = position_effect([1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 2.0, 3.0])
    assert res.slope == pytest.approx(1.0) and res.t == math.inf and res.p == 0.0
    assert math.isnan(position_effect([1.0], [1.0]).slope)
    flat = position_effect([2.0, 2.0, 2.0, 2.0], [0.0, 1.0, 2.0, 3.0])  # constant ratings
    assert flat.slope == 0.0 and math.isnan(flat.t) and math.isnan(flat.p)


def test_annotator_quality_flags():
    df = pd.DataFrame(
        {
            "ann": list("aaaaaa") + list("bbbbbb") + list("ccc"),
            "fluency": [3, 3, 3, 3, 3, 3, 1, 2, 3, 2, 2, 1, 4, 4, 5],
            "empathy": [2, 2, 2, 2, 2, 2, 1, 3, 3, 2, 4, 1, 4, 4, 5],
            "secs": [1, 2, 1, 2, 1, 1, 10, 12, 9, 8, 7, 6, 5, 5, 5],
            "order": [6, 5, 4, 3, 2, 1, 1, 2, 3, 4, 5, 6, 1, 2, 3],
            "check": [True, None, None, None, None, True, False, None, None, None, None, True]
            + [None] * 3,
        }
    )
    res = annotator_quality(
        df,
        "ann",
        ["fluency", "empathy"],
        time_col="secs",
        order_col="order",
        attention_col="check",
    )
    t = res.table.set_index("annotator")
    assert t.loc["a", "n_judgments"] == 6
    assert t.loc["a", "straightline_index"] == 1.0 and t.loc["a", "longest_run"] == 6
    assert t.loc["a", "median_seconds"] == 1.0
    assert t.loc["a", "reasons"] == "fast,straightline,low_sd"
    assert t.loc["b", "straightline_index"] == pytest.approx(0.0)
    assert t.loc["b", "attention_pass_rate"] == 0.5 and t.loc["b", "n_attention"] == 2
    assert t.loc["b", "reasons"] == "attention"
    # c: identical consecutive pair (4,4),(4,4) -> 1 of 2 transitions; too few judgments
    assert t.loc["c", "straightline_index"] == 0.5 and not t.loc["c", "flagged"]
    assert res.n_flagged == 2 and res.flagged_annotators == ["a", "b"]
    assert res.thresholds["max_straightline"] == 0.8
    # thresholds are parameters; None disables a rule
    relaxed = annotator_quality(
        df, "ann", "fluency", min_median_seconds=None, min_sd=None, min_attention_pass=None
    )
    assert relaxed.table.set_index("annotator")["reasons"].to_dict() == {
        "a": "straightline",
        "b": "",
        "c": "",
    }
    assert isinstance(res.as_dict()["table"], list)
