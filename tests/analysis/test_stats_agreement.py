"""Agreement coefficients vs statsmodels and the krippendorff package."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from analysis.stats import (
    ICC_FORMS,
    cohens_kappa,
    fleiss_kappa,
    fleiss_table_from_long,
    fleiss_table_from_ratings,
    icc,
    icc_all,
    krippendorff_alpha,
    ratings_matrix_from_long,
    slot_matrix_from_long,
)

FAST = settings(max_examples=40, deadline=None)


# --------------------------------------------------------------------------------------
# Fleiss' kappa
# --------------------------------------------------------------------------------------


@st.composite
def label_matrices(draw, max_items=25, max_raters=8, max_cats=5):
    n_items = draw(st.integers(2, max_items))
    n_raters = draw(st.integers(2, max_raters))
    n_cats = draw(st.integers(2, max_cats))
    flat = draw(
        st.lists(
            st.integers(0, n_cats - 1),
            min_size=n_items * n_raters,
            max_size=n_items * n_raters,
        )
    )
    return np.array(flat).reshape(n_items, n_raters), n_cats


@FAST
@given(label_matrices())
def test_fleiss_matches_statsmodels(data):
    labels, n_cats = data
    assume(np.unique(labels).size >= 2)
    table = aggregate_raters(labels, n_cat=n_cats)[0]
    ours = fleiss_kappa(table)
    assert ours.kappa == pytest.approx(sm_fleiss_kappa(table, method="fleiss"), abs=1e-12)
    from_ratings = fleiss_kappa(labels, kind="ratings")
    assert from_ratings.kappa == pytest.approx(ours.kappa, abs=1e-12)
    assert ours.n_raters == labels.shape[1] and ours.n_items == labels.shape[0]


def test_fleiss_long_format_helper_and_categories():
    df = pd.DataFrame(
        {
            "item": [1, 1, 1, 2, 2, 2, 3, 3, 3],
            "rater": ["x", "y", "z"] * 3,
            "choice": ["a", "a", "tie", "b", "b", "b", "a", "tie", "b"],
        }
    )
    table = fleiss_table_from_long(df, "item", "rater", "choice", categories=["a", "b", "tie"])
    assert table.columns.tolist() == ["a", "b", "tie"]
    assert table.to_numpy().tolist() == [[2, 0, 1], [0, 3, 0], [1, 1, 1]]
    res = fleiss_kappa(table)
    assert res.categories == ("a", "b", "tie")
    ref = sm_fleiss_kappa(table.to_numpy())
    assert res.kappa == pytest.approx(ref)
    wide = fleiss_table_from_ratings([["a", "a"], ["b", None]], categories=["a", "b"])
    assert wide.to_numpy().tolist() == [[2, 0], [0, 1]]


def test_fleiss_edge_cases():
    with pytest.raises(ValueError, match="same number of raters"):
        fleiss_kappa([[2, 1], [1, 1]])
    with pytest.raises(ValueError):
        fleiss_table_from_long(
            pd.DataFrame({"i": [1, 1], "r": ["x", "x"], "c": ["a", "b"]}), "i", "r", "c"
        )
    # everybody always picks the same category: kappa undefined
    assert math.isnan(fleiss_kappa([[3, 0], [3, 0]]).kappa)
    # perfect agreement with two categories used
    assert fleiss_kappa([[3, 0], [0, 3]]).kappa == pytest.approx(1.0)
    # categories nobody used do not change kappa
    assert fleiss_kappa([[2, 1, 0], [0, 3, 0]]).kappa == pytest.approx(
        fleiss_kappa([[2, 1], [0, 3]]).kappa
    )


# --------------------------------------------------------------------------------------
# Krippendorff's alpha
# --------------------------------------------------------------------------------------


@st.composite
def reliability_matrices(draw):
    n_raters = draw(st.integers(2, 6))
    n_units = draw(st.integers(2, 20))
    values = draw(st.sampled_from([[1, 2], [1, 2, 3], [1, 2, 3, 4, 5], [0.5, 1.5, 4.0, 7.25]]))
    cells = draw(
        st.lists(
            st.one_of(st.none(), st.sampled_from(values)),
            min_size=n_raters * n_units,
            max_size=n_raters * n_units,
        )
    )
    return np.array([math.nan if c is None else c for c in cells], dtype=float).reshape(
        n_raters, n_units
    )


@FAST
@given(data=reliability_matrices(), level=st.sampled_from(["nominal", "ordinal", "interval"]))
def test_krippendorff_matches_package(data, level):
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    values = data[:, pairable]
    assume(pairable.any() and np.unique(values[~np.isnan(values)]).size >= 2)
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    ours = krippendorff_alpha(data, level)
    assert ours.alpha == pytest.approx(ref, rel=1e-9, abs=1e-12)
    assert ours.n_units == int(pairable.sum())
    assert ours.level == level and level in ours.method


@FAST
@given(data=reliability_matrices())
def test_krippendorff_ratio_matches_package(data):
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    values = data[:, pairable]
    assume(pairable.any() and np.unique(values[~np.isnan(values)]).size >= 2)
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement="ratio")
    assert krippendorff_alpha(data, "ratio").alpha == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_krippendorff_edge_cases_and_long_format():
    # no unit has two values
    res = krippendorff_alpha([[1.0, math.nan], [math.nan, 2.0]], "interval")
    assert math.isnan(res.alpha) and res.n_units == 0
    # all values identical: no variation, alpha undefined
    assert math.isnan(krippendorff_alpha([[3.0, 3.0], [3.0, 3.0]], "nominal").alpha)
    # perfect agreement
    assert krippendorff_alpha([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], "interval").alpha == 1.0
    with pytest.raises(ValueError):
        krippendorff_alpha([[1.0, 2.0]], "cardinal")
    df = pd.DataFrame(
        {"unit": [1, 1, 2, 2, 3], "rater": ["a", "b", "a", "b", "a"], "v": [1, 1, 2, 3, 5]}
    )
    wide = ratings_matrix_from_long(df, "unit", "rater", "v")
    assert list(wide.columns) == ["a", "b"] and list(wide.index) == [1, 2, 3]
    data = wide.to_numpy().T
    assert data.shape == (2, 3) and math.isnan(data[1, 2])
    assert krippendorff_alpha(data, "interval").alpha == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="interval")
    )


# --------------------------------------------------------------------------------------
# Cohen's kappa
# --------------------------------------------------------------------------------------


@FAST
@given(
    pairs=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=2, max_size=80),
    weights=st.sampled_from([None, "linear", "quadratic"]),
)
def test_cohens_kappa_matches_statsmodels(pairs, weights):
    r1 = [p for p, _ in pairs]
    r2 = [q for _, q in pairs]
    cats = sorted(set(r1) | set(r2))
    assume(len(cats) >= 2)
    pos = {c: i for i, c in enumerate(cats)}
    table = np.zeros((len(cats), len(cats)))
    for x, y in pairs:
        table[pos[x], pos[y]] += 1
    ours = cohens_kappa(r1, r2, weights=weights)
    expected_disagreement = None
    if weights is None:
        ref = sm_cohens_kappa(table, return_results=False)
    else:
        ref = sm_cohens_kappa(table, wt=weights, return_results=False)
    p_row, p_col = table.sum(1) / table.sum(), table.sum(0) / table.sum()
    expected_disagreement = 1 - float(p_row @ p_col) if weights is None else None
    if expected_disagreement == 0:
        assert math.isnan(ours.kappa)
    else:
        assert ours.kappa == pytest.approx(ref, rel=1e-9, abs=1e-12)
    assert ours.n == len(pairs) and ours.n_categories == len(cats)


def test_cohens_kappa_labels_and_missing():
    a = ["good", "bad", "good", None, "ok"]
    b = ["good", "bad", "ok", "bad", "ok"]
    res = cohens_kappa(a, b)
    assert res.n == 4 and res.method.startswith("Cohen's kappa (unweighted); asymptotic SE")
    assert cohens_kappa([1, 2, 3], [1, 2, 3]).kappa == 1.0
    ordered = cohens_kappa([1, 2, 3, 3], [1, 3, 3, 2], weights="linear", categories=[1, 2, 3])
    assert ordered.weights == "linear"
    with pytest.raises(ValueError):
        cohens_kappa([1, 2], [1, 5], categories=[1, 2])


# --------------------------------------------------------------------------------------
# ICC
# --------------------------------------------------------------------------------------


def _long(x: np.ndarray) -> pd.DataFrame:
    n, k = x.shape
    return pd.DataFrame(
        {
            "y": x.ravel(),
            "item": np.repeat(np.arange(n), k).astype(str),
            "rater": np.tile(np.arange(k), n).astype(str),
        }
    )


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 15), k=st.integers(2, 5), seed=st.integers(0, 2**31))
def test_icc_anova_matches_statsmodels(n, k, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1)) * 2 + rng.normal(size=(n, k)) + rng.normal(size=(1, k))
    res = icc_all(x)
    two_way = anova_lm(smf.ols("y ~ C(item) + C(rater)", data=_long(x)).fit())
    one_way = anova_lm(smf.ols("y ~ C(item)", data=_long(x)).fit())
    f2, p2 = two_way.loc["C(item)", "F"], two_way.loc["C(item)", "PR(>F)"]
    f1, p1 = one_way.loc["C(item)", "F"], one_way.loc["C(item)", "PR(>F)"]
    for form in ("ICC(1,1)", "ICC(1,k)"):
        assert res[form].F == pytest.approx(f1, rel=1e-9)
        assert res[form].p == pytest.approx(p1, rel=1e-7, abs=1e-14)
        assert res[form].df2 == n * (k - 1)
    for form in ("ICC(2,1)", "ICC(3,1)", "ICC(2,k)", "ICC(3,k)"):
        assert res[form].F == pytest.approx(f2, rel=1e-9)
        assert res[form].p == pytest.approx(p2, rel=1e-7, abs=1e-14)
        assert res[form].df2 == (n - 1) * (k - 1)
    # one-way F also equals scipy's one-way ANOVA across items
    assert res["ICC(1,1)"].F == pytest.approx(stats.f_oneway(*x).statistic, rel=1e-9)
    # average-measure forms are the Spearman-Brown step-up of the single forms
    for m in "123":
        single, avg = res[f"ICC({m},1)"].value, res[f"ICC({m},k)"].value
        assert avg == pytest.approx(k * single / (1 + (k - 1) * single), rel=1e-9)
        if m == "2" and single <= 0:
            continue  # Satterthwaite CI breaks down for negative ICC(2,1) (pingouin too)
        assert res[f"ICC({m},1)"].ci_low <= single <= res[f"ICC({m},1)"].ci_high
        assert res[f"ICC({m},k)"].ci_low <= avg <= res[f"ICC({m},k)"].ci_high
    # ICC(3,1) is the consistency ICC: invariant to adding a constant per rater
    shifted = icc(x + np.arange(k) * 10.0, "ICC(3,1)").value
    assert shifted == pytest.approx(res["ICC(3,1)"].value, rel=1e-9)


def test_icc_forms_names_and_missing():
    x = np.array([[1.0, 2.0, 2.0], [3.0, 3.0, 4.0], [5.0, 6.0, 5.0], [2.0, np.nan, 2.0]])
    res = icc_all(x)
    assert list(res) == list(ICC_FORMS)
    assert res["ICC(2,1)"].n_items == 3  # the item with a missing rating is dropped
    assert icc(x, "ICC(3,3)").form == "ICC(3,k)"
    assert icc(x, "ICC2k").form == "ICC(2,k)"
    assert "ICC(3,3)" in icc(x, "ICC(3,k)").method
    with pytest.raises(ValueError):
        icc(x, "ICC(4,1)")
    with pytest.raises(ValueError):
        icc_all(np.ones((1, 3)))
    # zero variance everywhere: ICC undefined, not an exception
    flat = icc_all(np.ones((4, 3)))
    assert math.isnan(flat["ICC(1,1)"].value)


def test_matrix_helpers_from_long():
    df = pd.DataFrame(
        {
            "item": ["i1", "i1", "i1", "i2", "i2", "i3", "i3", "i3"],
            "rater": ["a", "b", "c", "a", "c", "b", "c", "a"],
            "score": [4, 5, 4, 2, 1, 3, 3, 3],
            "t": [1, 2, 3, 1, 2, 3, 2, 1],
        }
    )
    wide = ratings_matrix_from_long(df, "item", "rater", "score")
    assert wide.shape == (3, 3) and math.isnan(wide.loc["i2", "b"])
    slots = slot_matrix_from_long(df, "item", "score", order_col="t")
    assert slots.shape == (3, 2)
    assert slots.loc["i3"].tolist() == [3.0, 3.0]
    slots3 = slot_matrix_from_long(df, "item", "score", n_per_item=3)
    assert slots3.index.tolist() == ["i1", "i3"]
