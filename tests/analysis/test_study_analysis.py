"""The study-level analysis against scipy / statsmodels / krippendorff computed directly here.

Pure tests (no database): every expected number is recomputed from the fixture frame with
pandas and the reference libraries, never with analysis.stats.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss
from statsmodels.stats.multitest import multipletests

from analysis.study_analysis import (
    TABLE_COLUMNS,
    AnalysisOptions,
    analyze,
    krippendorff_alpha_long,
    shared_bootstrap_means,
)

DIMS = [
    {"key": "empathy", "type": "slider"},
    {"key": "fluency", "type": "likert"},
    {"key": "ok", "type": "checkbox"},
]


def rating_frame(seed: int = 3) -> pd.DataFrame:
    """3 annotators rate 8 contexts x systems A, B, C (fully crossed, paired); system D is
    rated on 5 other contexts (Welch against everyone)."""
    rng = np.random.default_rng(seed)
    rows = []
    effect = {"A": 10.0, "B": 4.0, "C": 0.0, "D": 6.0}
    for a_i, ann in enumerate(["ann1", "ann2", "ann3"]):
        pos = 0
        for system, contexts in (
            ("A", range(8)),
            ("B", range(8)),
            ("C", range(8)),
            ("D", range(8, 13)),
        ):
            for c in contexts:
                base = 50 + effect[system] + 3 * a_i + rng.normal(0, 8)
                length = 10 + 2 * c + (5 if system == "A" else 0)
                for dim in DIMS:
                    if dim["type"] == "slider":
                        v = float(np.clip(round(base), 0, 100))
                    elif dim["type"] == "likert":
                        v = float(np.clip(round(base / 20), 1, 5))
                    else:
                        v = float(base > 55)
                    rows.append(
                        {
                            "annotator": ann,
                            "context": f"c{c:02d}",
                            "system": system,
                            "dimension": dim["key"],
                            "value": v,
                            "position": pos,
                            "block": pos // 8,
                            "batch": a_i,
                            "time_on_item_ms": 9000 + 100 * c,
                            "response_length": length,
                            "assignment_status": "completed",
                        }
                    )
                pos += 1
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return rating_frame()


@pytest.fixture(scope="module")
def result(frame):
    return analyze(frame, protocol="rating", dimensions=DIMS, options=AnalysisOptions(seed=1))


def item_means(frame: pd.DataFrame, dim: str, system: str, col: str = "value") -> pd.Series:
    sub = frame[(frame.dimension == dim) & (frame.system == system)]
    return sub.groupby("context")[col].mean()


def row(table: pd.DataFrame, **keys) -> pd.Series:
    sel = np.ones(len(table), dtype=bool)
    for k, v in keys.items():
        sel &= (table[k] == v).to_numpy()
    assert sel.sum() == 1, keys
    return table.loc[sel].iloc[0]


def test_tables_have_the_fixed_columns_in_order(result):
    for name, table in result.tables().items():
        assert list(table.columns) == TABLE_COLUMNS[name], name
    assert list(result.comparisons.columns[:19]) == [
        "dimension",
        "system_a",
        "system_b",
        "design",
        "alternative",
        "n",
        "mean_a",
        "mean_b",
        "t",
        "df",
        "p_value",
        "p_holm",
        "p_bonferroni",
        "p_permutation",
        "cohens_d_pooled",
        "cohens_dz",
        "hedges_g",
        "ci_low",
        "ci_high",
    ]


def test_paired_design_matches_scipy_on_item_means(frame, result):
    a, b = item_means(frame, "empathy", "A"), item_means(frame, "empathy", "B")
    r = row(result.comparisons, dimension="empathy", system_a="A", system_b="B", variant="raw")
    assert r["design"] == "paired" and r["n"] == 8
    ref = stats.ttest_rel(a, b)
    assert r["t"] == pytest.approx(ref.statistic, rel=1e-10)
    assert r["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert r["df"] == 7
    assert (r["mean_a"], r["mean_b"]) == pytest.approx((a.mean(), b.mean()))
    d = a - b
    assert r["cohens_dz"] == pytest.approx(d.mean() / d.std(ddof=1))
    sp = math.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    assert r["cohens_d_pooled"] == pytest.approx((a.mean() - b.mean()) / sp)
    df = 14
    j = math.exp(math.lgamma(df / 2) - 0.5 * math.log(df / 2) - math.lgamma((df - 1) / 2))
    assert r["hedges_g"] == pytest.approx(j * r["cohens_d_pooled"])
    # 2^8 sign vectors <= 10,000 resamples: exact enumeration, as scipy does
    perm = stats.permutation_test(
        (a.to_numpy(), b.to_numpy()),
        lambda x, y, axis: np.mean(x - y, axis=axis),
        permutation_type="samples",
        n_resamples=10_000,
        vectorized=True,
    )
    assert r["p_permutation"] == pytest.approx(perm.pvalue, rel=1e-9)
    # bootstrap CI of the mean difference: percentile, close to scipy's (Monte Carlo)
    boot = stats.bootstrap(
        (d.to_numpy(),),
        np.mean,
        n_resamples=20_000,
        method="percentile",
        rng=np.random.default_rng(0),
    )
    width = boot.confidence_interval.high - boot.confidence_interval.low
    assert r["ci_low"] == pytest.approx(boot.confidence_interval.low, abs=0.1 * width)
    assert r["ci_high"] == pytest.approx(boot.confidence_interval.high, abs=0.1 * width)
    assert r["ci_low"] < d.mean() < r["ci_high"]


def test_welch_design_when_contexts_differ(frame, result):
    a, dd = item_means(frame, "empathy", "A"), item_means(frame, "empathy", "D")
    r = row(result.comparisons, dimension="empathy", system_a="A", system_b="D", variant="raw")
    assert r["design"] == "welch"
    assert (r["n"], r["n_a"], r["n_b"]) == (13, 8, 5)
    ref = stats.ttest_ind(a, dd, equal_var=False)
    assert r["t"] == pytest.approx(ref.statistic, rel=1e-10)
    assert r["p_value"] == pytest.approx(ref.pvalue, rel=1e-10)
    assert r["df"] == pytest.approx(ref.df, rel=1e-10)
    assert math.isnan(r["cohens_dz"])
    sp = math.sqrt((7 * a.var(ddof=1) + 4 * dd.var(ddof=1)) / 11)
    assert r["cohens_d_pooled"] == pytest.approx((a.mean() - dd.mean()) / sp)
    # C(13, 8) = 1287 splits <= 10,000: exact enumeration; two-sided p = share of splits
    # with |T*| >= |T| (scipy doubles the smaller one-sided p instead, which differs for
    # unequal group sizes), so enumerate here directly
    pooled = np.r_[a.to_numpy(), dd.to_numpy()]
    observed = abs(a.mean() - dd.mean())
    hits = total = 0
    for combo in itertools.combinations(range(13), 8):
        mask = np.zeros(13, dtype=bool)
        mask[list(combo)] = True
        t_star = pooled[mask].mean() - pooled[~mask].mean()
        hits += abs(t_star) >= observed - 1e-9
        total += 1
    assert r["p_permutation"] == pytest.approx(hits / total, rel=1e-12)
    assert r["ci_low"] < a.mean() - dd.mean() < r["ci_high"]


def test_corrections_match_statsmodels_per_dimension_and_over_all(frame, result):
    raw = result.comparisons[result.comparisons.variant == "raw"]
    for dim in ("empathy", "fluency"):
        sub = raw[raw.dimension == dim]
        assert len(sub) == 6  # 4 systems -> 6 pairs
        assert np.allclose(sub.p_holm, multipletests(sub.p_value, method="holm")[1])
        assert np.allclose(sub.p_bonferroni, multipletests(sub.p_value, method="bonferroni")[1])
    everything = analyze(
        frame,
        protocol="rating",
        dimensions=DIMS,
        options=AnalysisOptions(family="all", n_permutations=50, n_bootstrap=50),
    )
    raw_all = everything.comparisons[everything.comparisons.variant == "raw"]
    assert len(raw_all) == 18
    assert np.allclose(raw_all.p_holm, multipletests(raw_all.p_value, method="holm")[1])
    assert any("all comparisons across dimensions" in m for m in everything.methods)


def test_one_sided_alternative_matches_scipy(frame):
    res = analyze(
        frame,
        protocol="rating",
        dimensions=DIMS,
        options=AnalysisOptions(
            alternative="greater", n_permutations=100, n_bootstrap=100, systems=("A", "C")
        ),
    )
    a, c = item_means(frame, "empathy", "A"), item_means(frame, "empathy", "C")
    r = row(res.comparisons, dimension="empathy", variant="raw")
    assert (r["system_a"], r["system_b"], r["alternative"]) == ("A", "C", "greater")
    assert r["p_value"] == pytest.approx(stats.ttest_rel(a, c, alternative="greater").pvalue)
    assert set(res.summary.system) == {"A", "C"}
    assert any("one-sided (greater)" in m for m in res.methods)


def test_z_normalised_variant_side_by_side(frame, result):
    z = frame.copy()
    g = z.groupby(["annotator", "dimension"])["value"]
    z["z"] = (z["value"] - g.transform("mean")) / g.transform(lambda v: v.std(ddof=0))
    za, zb = item_means(z, "empathy", "A", "z"), item_means(z, "empathy", "B", "z")
    r = row(result.comparisons, dimension="empathy", system_a="A", system_b="B", variant="z")
    assert r["design"] == "paired"
    assert r["t"] == pytest.approx(stats.ttest_rel(za, zb).statistic, rel=1e-9)
    raw = row(result.comparisons, dimension="empathy", system_a="A", system_b="B", variant="raw")
    assert raw["t"] != pytest.approx(r["t"])
    s = row(result.summary, dimension="empathy", system="A")
    assert s["mean_z"] == pytest.approx(za.mean())
    assert set(result.comparisons.variant) == {"raw", "z"}


def test_summary_uses_item_means(frame, result):
    a = item_means(frame, "fluency", "A")
    s = row(result.summary, dimension="fluency", system="A")
    assert (s["n_items"], s["n_judgments"]) == (8, 24)
    assert s["mean"] == pytest.approx(a.mean())
    assert s["sd"] == pytest.approx(a.std(ddof=1))
    lo, hi = stats.t.interval(0.95, 7, loc=a.mean(), scale=stats.sem(a))
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((lo, hi))


def test_agreement_per_dimension_matches_reference_libraries(frame, result):
    ag = result.agreement
    for dim, level in (("empathy", "interval"), ("fluency", "ordinal"), ("ok", "nominal")):
        sub = frame[frame.dimension == dim]
        wide = sub.pivot_table(index="annotator", columns=["system", "context"], values="value")
        expected = krippendorff.alpha(reliability_data=wide.to_numpy(), level_of_measurement=level)
        r = row(ag, dimension=dim, metric="krippendorff_alpha")
        assert r["value"] == pytest.approx(expected, rel=1e-9)
        assert r["level"] == level and r["n_raters"] == 3 and r["n_items"] == 29
    # fully crossed -> ICC(2,1) (two-way random, absolute agreement), by hand from ANOVA
    x = (
        frame[frame.dimension == "empathy"]
        .pivot_table(index=["system", "context"], columns="annotator", values="value")
        .to_numpy()
    )
    n, k = x.shape
    grand = x.mean()
    msr = k * ((x.mean(1) - grand) ** 2).sum() / (n - 1)
    msc = n * ((x.mean(0) - grand) ** 2).sum() / (k - 1)
    sse = ((x - grand) ** 2).sum() - (n - 1) * msr - (k - 1) * msc
    mse = sse / ((n - 1) * (k - 1))
    icc21 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    assert row(ag, dimension="empathy", metric="ICC(2,1)")["value"] == pytest.approx(icc21)
    # Fleiss' kappa for the categorical dimensions (3 raters per item throughout)
    for dim in ("fluency", "ok"):
        table = pd.crosstab([frame.system, frame.context], frame[frame.dimension == dim].value)
        r = row(ag, dimension=dim, metric="fleiss_kappa")
        assert r["value"] == pytest.approx(sm_fleiss(table.to_numpy()), rel=1e-9)
    # free-marginal kappa beside it: K = 2 for a checkbox (No, Yes)
    table = pd.crosstab([frame.system, frame.context], frame[frame.dimension == "ok"].value)
    r = row(ag, dimension="ok", metric="free_marginal_kappa")
    assert r["value"] == pytest.approx(sm_fleiss(table.to_numpy(), method="randolph"))
    assert "K = 2 (No, Yes)" in r["note"]
    assert not (ag.metric == "fleiss_kappa").loc[ag.dimension == "empathy"].any()


def _crossed_vc_icc_by_projections(x: np.ndarray) -> tuple[float, float]:
    """ICC(A,1), ICC(A,k) of an items x raters matrix with NaN gaps from the moment
    estimator written with dense projection matrices and traces (Searle, Casella &
    McCulloch 1992, ch. 5): independent of the sparse solver under test."""
    i_idx, j_idx = np.nonzero(~np.isnan(x))
    y = x[i_idx, j_idx]
    n = y.size
    za = (i_idx[:, None] == np.arange(x.shape[0])).astype(float)
    zb = (j_idx[:, None] == np.arange(x.shape[1])).astype(float)
    one = np.ones((n, 1))

    def proj(m):
        return m @ np.linalg.pinv(m)

    p1, pa, pab = proj(one), proj(np.hstack([one, za])), proj(np.hstack([one, za, zb]))
    forms = [np.eye(n) - pab, pab - pa, pa - p1]  # residual, raters | items, items
    rhs = np.array([y @ q @ y for q in forms])
    coef = np.array(
        [[np.trace(zz.T @ q @ zz) for zz in (za, zb)] + [np.trace(q)] for q in forms]
    )  # columns: var_items, var_raters, var_residual
    va, vb, ve = np.linalg.solve(coef, rhs)
    k = x.shape[0] / np.sum(1.0 / (~np.isnan(x)).sum(axis=1))
    return va / (va + vb + ve), va / (va + (vb + ve) / k)


def test_crossed_design_with_one_gap_keeps_the_two_way_icc_and_says_how():
    f = rating_frame(5)
    # drop one rating: raters per item no longer fixed, but the design is still crossed
    f = f.drop(f[(f.annotator == "ann1") & (f.context == "c00") & (f.system == "A")].index)
    res = analyze(
        f,
        protocol="rating",
        dimensions=DIMS,
        options=AnalysisOptions(n_permutations=50, n_bootstrap=50),
    )
    r = row(res.agreement, dimension="ok", metric="fleiss_kappa")
    assert math.isnan(r["value"]) and "raters per item vary" in r["note"]
    assert "ICC(1,1)" not in set(res.agreement.metric)
    icc1 = row(res.agreement, dimension="empathy", metric="ICC(2,1)")
    icck = row(res.agreement, dimension="empathy", metric="ICC(2,k)")
    # every rating is used: 29 items, 3 raters, one cell of 87 missing
    assert (icc1["n_items"], icc1["n_raters"]) == (29, 3)
    assert "86 of 87" in icc1["note"] and "variance components" in icc1["note"]
    assert "different raters" not in icc1["note"] and "k = 2.9" in icck["note"]
    # the approximate interval (McGraw–Wong on the estimator's mean squares), labelled
    assert "approximate F-based interval" in icc1["note"]
    assert icc1["ci_low"] < icc1["value"] < icc1["ci_high"]
    assert icck["ci_low"] < icck["value"] < icck["ci_high"]
    x = (
        f[f.dimension == "empathy"]
        .pivot_table(index=["system", "context"], columns="annotator", values="value")
        .to_numpy()
    )
    want1, wantk = _crossed_vc_icc_by_projections(x)
    assert icc1["value"] == pytest.approx(want1, rel=1e-9)
    assert icck["value"] == pytest.approx(wantk, rel=1e-9)
    # REML on the same crossed model lands close by (one gap in 87 cells)
    import statsmodels.formula.api as smf

    sub = f[f.dimension == "empathy"].assign(item=lambda d: d.system + d.context, g=1)
    fit = smf.mixedlm(
        "value ~ 1",
        sub,
        groups="g",
        re_formula="0",
        vc_formula={"item": "0 + C(item)", "rater": "0 + C(annotator)"},
    ).fit(reml=True)
    va, vb = fit.vcomp
    assert icc1["value"] == pytest.approx(va / (va + vb + fit.scale), abs=0.03)


def test_one_way_icc_when_raters_are_nested_in_items():
    # every annotator rates one item only: no rater effect can be separated
    rng = np.random.default_rng(4)
    rows = []
    for c in range(12):
        for r in range(3):
            for system in ("A", "B"):
                rows.append(
                    {
                        "annotator": f"w{c}-{r}-{system}",
                        "context": f"c{c}",
                        "system": system,
                        "dimension": "empathy",
                        "value": float(rng.integers(0, 100)),
                    }
                )
    res = analyze(
        pd.DataFrame(rows),
        protocol="rating",
        dimensions=DIMS[:1],
        options=AnalysisOptions(n_permutations=50, n_bootstrap=50),
    )
    icc = row(res.agreement, dimension="empathy", metric="ICC(1,1)")
    assert icc["n_raters"] == 3 and icc["n_items"] == 24 and "nested" in icc["note"]


def test_krippendorff_long_form_equals_matrix_form():
    rng = np.random.default_rng(0)
    data = rng.integers(1, 6, size=(4, 40)).astype(float)
    data[rng.random(data.shape) < 0.3] = np.nan
    units = np.broadcast_to(np.arange(40), data.shape)[~np.isnan(data)]
    values = data[~np.isnan(data)]
    for level in ("interval", "ordinal", "nominal"):
        got = krippendorff_alpha_long(units, values, level).alpha
        assert got == pytest.approx(
            krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        )


def test_shared_bootstrap_means_equal_an_index_loop():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 17))
    boot = shared_bootstrap_means(x, 50, np.random.default_rng(9))
    check = np.random.default_rng(9)
    idx = check.integers(0, 17, size=(50, 17), dtype=np.int64)
    assert np.allclose(boot, x[:, idx].mean(axis=2).T)


def test_length_bias_and_position_effects(frame, result):
    lb = result.length_bias
    items = (
        frame[frame.dimension == "empathy"]
        .groupby(["system", "context"])
        .agg(v=("value", "mean"), n=("response_length", "mean"))
    )
    r = row(lb, dimension="empathy", system="all")
    ref = stats.pearsonr(items.v, items.n)
    assert r["pearson_r"] == pytest.approx(ref.statistic)
    assert r["pearson_p"] == pytest.approx(ref.pvalue)
    assert r["spearman_rho"] == pytest.approx(stats.spearmanr(items.v, items.n).statistic)
    assert set(lb.system) == {"all", "A", "B", "C", "D"}
    pe = result.position_effects
    assert set(pe.factor) == {"position", "block"}
    assert (pe.n_groups == 3).all()


def test_methods_state_tests_variants_corrections_resamples_and_seed(result):
    text = " ".join(result.methods)
    for phrase in (
        "paired t-test",
        "Welch",
        "Holm",
        "Bonferroni",
        "10000 resamples",
        "2000 resamples",
        "seed 1",
        "z-scores",
        "cohens_dz",
        "percentile bootstrap",
        "Krippendorff",
        "exact enumeration",
    ):
        assert phrase in text, phrase


def test_exclusion_of_flagged_annotators_is_reported():
    f = rating_frame()
    # ann3 straight-lines: the same answers for everything, and answers fast
    f.loc[f.annotator == "ann3", "value"] = f.loc[f.annotator == "ann3", "dimension"].map(
        {"empathy": 50.0, "fluency": 3.0, "ok": 1.0}
    )
    f.loc[f.annotator == "ann3", "time_on_item_ms"] = 900
    opts = dict(n_permutations=100, n_bootstrap=100)
    keep = analyze(f, protocol="rating", dimensions=DIMS, options=AnalysisOptions(**opts))
    q = keep.annotator_quality.set_index("annotator")
    assert q.loc["ann3", "flagged"] and not q.loc["ann1", "flagged"]
    assert "straightline" in q.loc["ann3", "reasons"] and "fast" in q.loc["ann3", "reasons"]
    assert not q["excluded"].any()
    assert keep.info["flagged_annotators"] == ["ann3"]
    ee = keep.exclusion_effect
    assert len(ee) and (ee.n_annotators_excluded == 1).all()
    # "with_all" is the main analysis; "without_excluded" drops ann3
    s = row(keep.summary, dimension="empathy", system="A")
    m = row(ee, dimension="empathy", system_a="A", system_b="", quantity="mean")
    assert m["with_all"] == pytest.approx(s["mean"])
    without = f[(f.annotator != "ann3")]
    assert m["without_excluded"] == pytest.approx(item_means(without, "empathy", "A").mean())
    assert m["change"] == pytest.approx(m["without_excluded"] - m["with_all"])

    dropped = analyze(
        f, protocol="rating", dimensions=DIMS, options=AnalysisOptions(exclude_flagged=True, **opts)
    )
    assert "ann3" not in set(dropped.judgments.annotator)
    assert dropped.annotator_quality.set_index("annotator").loc["ann3", "excluded"]
    s2 = row(dropped.summary, dimension="empathy", system="A")
    assert s2["mean"] == pytest.approx(m["without_excluded"])
    ee2 = dropped.exclusion_effect
    m2 = row(ee2, dimension="empathy", system_a="A", system_b="", quantity="mean")
    assert (m2["with_all"], m2["without_excluded"]) == pytest.approx(
        (m["with_all"], m["without_excluded"])
    )
    assert any("Excluded from every table" in t and "ann3" in t for t in dropped.methods)
    by_name = analyze(
        f,
        protocol="rating",
        dimensions=DIMS,
        options=AnalysisOptions(exclude_annotators=("ann3",), **opts),
    )
    assert by_name.summary["mean"].tolist() == pytest.approx(dropped.summary["mean"].tolist())


def test_partial_judgments_are_left_out_unless_asked(frame):
    f = frame.copy()
    f.loc[(f.annotator == "ann2") & (f.system == "D"), "assignment_status"] = "expired"
    opts = dict(n_permutations=20, n_bootstrap=20)
    default = analyze(f, protocol="rating", dimensions=DIMS, options=AnalysisOptions(**opts))
    assert row(default.summary, dimension="empathy", system="D")["n_judgments"] == 10
    assert default.info["n_rows_partial"] == 5 * 3  # 5 contexts x 3 dimensions
    assert any("lease expired" in m for m in default.methods)
    kept = analyze(
        f, protocol="rating", dimensions=DIMS, options=AnalysisOptions(include_partial=True, **opts)
    )
    assert row(kept.summary, dimension="empathy", system="D")["n_judgments"] == 15


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(systems=("A", "nope")), "unknown system(s) nope"),
        (dict(dimensions=("empathy", "nope")), "unknown dimension(s) nope"),
        (dict(exclude_annotators=("ghost",)), "unknown annotator(s) to exclude: ghost"),
    ],
)
def test_unknown_names_are_clear_errors(frame, options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        analyze(frame, protocol="rating", dimensions=DIMS, options=AnalysisOptions(**options))


def test_bad_frames_and_options_are_refused(frame):
    with pytest.raises(ValueError, match="lacks column"):
        analyze(frame.drop(columns="value"), protocol="rating", dimensions=DIMS)
    with pytest.raises(ValueError, match="alternative"):
        AnalysisOptions(alternative="bigger")
    with pytest.raises(ValueError, match="does not define"):
        analyze(frame, protocol="rating", dimensions=DIMS[:1])


def test_results_are_deterministic_for_a_seed(frame):
    opts = AnalysisOptions(seed=5, n_permutations=2000, n_bootstrap=500)
    one = analyze(frame, protocol="rating", dimensions=DIMS, options=opts)
    two = analyze(frame, protocol="rating", dimensions=DIMS, options=opts)
    pd.testing.assert_frame_equal(one.comparisons, two.comparisons)


# --------------------------------------------------------------------------------------
# Pairwise
# --------------------------------------------------------------------------------------

PAIR_DIMS = [{"key": "overall", "type": "choice"}, {"key": "respectful", "type": "choice"}]


def pairwise_frame() -> pd.DataFrame:
    """Hand-checkable: 2 annotators judge 5 contexts of X vs Y on 'overall'.

    ann2 saw c4 and c5 the other way round (Y shown first), so its 'a' there means Y:
             c1  c2   c3   c4  c5
        ann1  X   X   tie   Y   X     (recorded a a tie b a)
        ann2  X  tie  tie   X   Y     (recorded a tie tie b a)
    Oriented X vs Y: X wins 5, ties 3, Y wins 2. 'respectful' is a tie everywhere.
    """
    rows = []
    plan = {
        "ann1": [
            ("c1", "X", "Y", "a"),
            ("c2", "X", "Y", "a"),
            ("c3", "X", "Y", "tie"),
            ("c4", "X", "Y", "b"),
            ("c5", "X", "Y", "a"),
        ],
        "ann2": [
            ("c1", "X", "Y", "a"),
            ("c2", "X", "Y", "tie"),
            ("c3", "X", "Y", "tie"),
            ("c4", "Y", "X", "b"),
            ("c5", "Y", "X", "a"),
        ],
    }
    for ann, items in plan.items():
        for pos, (ctx, sa, sb, choice) in enumerate(items):
            rows.append(
                {
                    "annotator": ann,
                    "context": ctx,
                    "system_a": sa,
                    "system_b": sb,
                    "dimension": "overall",
                    "choice": choice,
                    "position": pos,
                    "time_on_item_ms": 8000,
                }
            )
            rows.append(
                {
                    "annotator": ann,
                    "context": ctx,
                    "system_a": sa,
                    "system_b": sb,
                    "dimension": "respectful",
                    "choice": "tie",
                    "position": pos,
                    "time_on_item_ms": 8000,
                }
            )
    return pd.DataFrame(rows)


def test_pairwise_win_rates_and_kappa_by_hand():
    res = analyze(
        pairwise_frame(),
        protocol="pairwise",
        dimensions=PAIR_DIMS,
        options=AnalysisOptions(n_permutations=10_000),
    )
    w = row(res.winrates, dimension="overall")
    # oriented X vs Y: ann1 X X tie Y X ; ann2 X tie tie X Y
    assert (w["system_a"], w["system_b"]) == ("X", "Y")
    assert (w["wins_a"], w["ties"], w["wins_b"]) == (5, 3, 2)
    assert (w["share_a"], w["share_tie"], w["share_b"]) == pytest.approx((0.5, 0.3, 0.2))
    assert w["p_sign"] == pytest.approx(stats.binomtest(5, 7, 0.5).pvalue)
    from statsmodels.stats.proportion import proportion_confint

    assert w["share_a_decisive"] == pytest.approx(5 / 7)
    assert (w["cp_low"], w["cp_high"]) == pytest.approx(proportion_confint(5, 7, method="beta"))
    assert (w["wilson_low"], w["wilson_high"]) == pytest.approx(
        proportion_confint(5, 7, method="wilson")
    )
    # 2^10 <= 10,000 -> exact; equals the exact sign test conditional on ties
    assert w["p_permutation"] == pytest.approx(stats.binomtest(5, 7, 0.5).pvalue)
    # Fleiss' kappa over {a, b, tie}: items c1..c5 with 2 raters each
    # c1 (a,a) c2 (a,tie) c3 (tie,tie) c4 (b,a) c5 (a,b)
    table = np.array([[2, 0, 0], [1, 0, 1], [0, 0, 2], [1, 1, 0], [1, 1, 0]])
    k = row(res.agreement, dimension="overall", metric="fleiss_kappa")
    assert k["value"] == pytest.approx(sm_fleiss(table))
    assert k["value"] == pytest.approx((0.4 - 0.38) / (1 - 0.38))  # P_bar 0.4, P_e 0.38
    assert k["note"].startswith("by system: categories system_a better, system_b better, tie")
    free = row(res.agreement, dimension="overall", metric="free_marginal_kappa")
    assert free["value"] == pytest.approx(sm_fleiss(table, method="randolph"))
    assert free["value"] == pytest.approx((0.4 - 1 / 3) / (2 / 3)) and "K = 3" in free["note"]
    # as shown (what was clicked): c1 (a,a) c2 (a,tie) c3 (tie,tie) c4 (b,b) c5 (a,a)
    shown = np.array([[2, 0, 0], [1, 0, 1], [0, 0, 2], [0, 2, 0], [2, 0, 0]])
    ks = row(res.agreement, dimension="overall", metric="fleiss_kappa_as_shown")
    assert ks["value"] == pytest.approx(sm_fleiss(shown))
    assert ks["note"].startswith("as shown: categories first shown (left), second shown")
    fs = row(res.agreement, dimension="overall", metric="free_marginal_kappa_as_shown")
    assert fs["value"] == pytest.approx(sm_fleiss(shown, method="randolph"))
    # everything tied on 'respectful': no variation, kappa undefined, shares exact
    r = row(res.winrates, dimension="respectful")
    assert (r["wins_a"], r["ties"], r["wins_b"], r["share_tie"]) == (0, 10, 0, 1.0)
    assert math.isnan(r["p_sign"])
    # side bias: recorded 'a' (first shown) chosen 3 + 2 times, 'b' 1 + 1 times
    side = row(res.position_effects, dimension="overall", factor="side")
    assert side["estimate"] == pytest.approx(5 / 7)
    assert side["p_value"] == pytest.approx(stats.binomtest(5, 7).pvalue)
    s = row(res.summary, dimension="overall", system="X")
    assert s["mean"] == pytest.approx((5 + 0.5 * 3) / 10)
    assert res.comparisons.empty and res.bradley_terry.empty


def test_pairwise_corrections_and_bradley_terry_with_three_systems():
    rng = np.random.default_rng(0)
    rows = []
    systems = ["p", "q", "r"]
    strength = {"p": 2.0, "q": 1.0, "r": 0.5}
    for c in range(30):
        for i, sa in enumerate(systems):
            for sb in systems[i + 1 :]:
                for ann in ("u1", "u2"):
                    pa = strength[sa] / (strength[sa] + strength[sb])
                    u = rng.random()
                    choice = "tie" if u < 0.15 else ("a" if rng.random() < pa else "b")
                    rows.append(
                        {
                            "annotator": ann,
                            "context": f"c{c}",
                            "system_a": sa,
                            "system_b": sb,
                            "dimension": "overall",
                            "choice": choice,
                        }
                    )
    f = pd.DataFrame(rows)
    res = analyze(
        f,
        protocol="pairwise",
        dimensions=PAIR_DIMS[:1],
        options=AnalysisOptions(n_bootstrap=200, n_permutations=1000),
    )
    w = res.winrates
    assert len(w) == 3
    assert np.allclose(w.p_sign_holm, multipletests(w.p_sign, method="holm")[1])
    bt = res.bradley_terry
    assert list(bt.system) == systems
    assert np.isclose(bt.log_strength.sum(), 0.0)
    assert bt.set_index("system").strength.idxmax() == "p"
    assert (bt.ci_low <= bt.strength).all() and (bt.strength <= bt.ci_high).all()
    assert any("Bradley–Terry" in m for m in res.methods)
    assert (bt.se > 0).all() and (bt.df_residual == 1).all()
    assert bt.elo.to_numpy() == pytest.approx(1000 + 400 * np.log10(bt.strength.to_numpy()))
    # a reference system and another Elo scale
    ref = analyze(
        f,
        protocol="pairwise",
        dimensions=PAIR_DIMS[:1],
        options=AnalysisOptions(
            n_bootstrap=50, n_permutations=100, bt_reference="q", elo_scale=200
        ),
    ).bradley_terry.set_index("system")
    assert (
        ref.loc["q", "log_strength"] == 0
        and ref.loc["q", "se"] == 0
        and ref.loc["q", "elo"] == 1000
    )
    lp = bt.set_index("system").log_strength
    assert ref.loc["p", "log_strength"] == pytest.approx(lp["p"] - lp["q"])
    assert ref.loc["p", "elo"] == pytest.approx(1000 + 200 * (lp["p"] - lp["q"]) / np.log(10))


def test_pairwise_annotator_always_choosing_the_first_shown_is_flagged():
    rows = []
    for ann in ("clicker", "reader"):
        for c in range(12):
            sa, sb = ("X", "Y") if c % 2 == 0 else ("Y", "X")  # sides alternate
            choice = "a" if ann == "clicker" else ["a", "b", "tie"][c % 3]
            rows.append(
                {
                    "annotator": ann,
                    "context": f"c{c}",
                    "system_a": sa,
                    "system_b": sb,
                    "dimension": "overall",
                    "choice": choice,
                    "time_on_item_ms": 7000,
                }
            )
    res = analyze(
        pd.DataFrame(rows),
        protocol="pairwise",
        dimensions=PAIR_DIMS[:1],
        options=AnalysisOptions(n_permutations=100, exclude_flagged=True),
    )
    q = res.annotator_quality.set_index("annotator")
    assert q.loc["clicker", "flag_straightline"] and q.loc["clicker", "excluded"]
    assert not q.loc["reader", "flagged"]
    # oriented to X vs Y, the clicker's choices alternate: X, Y, X, ... -> 6 / 6 before exclusion
    w = row(res.winrates, dimension="overall")
    assert w["n"] == 12  # only the reader's judgments remain
    ee = res.exclusion_effect
    share = row(ee, dimension="overall", system_a="X", system_b="Y", quantity="share_a")
    assert share["with_all"] == pytest.approx((6 + w["wins_a"]) / 24)


# --------------------------------------------------------------------------- attention checks


def with_attention_rows(frame: pd.DataFrame, failing: str, pairwise: bool = False) -> pd.DataFrame:
    """Two attention-check judgments per annotator, inserted among the real rows; the
    `failing` annotator fails both, the others pass both."""
    out = frame.copy()
    out["attention_passed"] = None
    dims = sorted(frame.dimension.unique())
    pieces = [out]
    for ann in sorted(frame.annotator.unique()):
        for k, check in enumerate(("chk1", "chk2")):
            passed = ann != failing
            for dim in dims:
                row_ = {
                    "annotator": ann,
                    "context": check,
                    "dimension": dim,
                    "position": 3 + k,
                    "batch": 0,
                    "time_on_item_ms": 6000,
                    "assignment_status": "completed",
                    "attention_passed": passed,
                }
                if pairwise:
                    row_.update(
                        system_a="attention-check",
                        system_b="attention-check",
                        choice="a" if passed else "b",
                    )
                else:
                    row_.update(
                        system="attention-check", value=5.0 if passed else 95.0, response_length=9
                    )
                pieces.append(pd.DataFrame([row_]))
    merged = pd.concat(pieces, ignore_index=True)
    # put each attention row after the annotator's first rows (interleaved, as recorded)
    order = np.argsort(
        np.where(merged.attention_passed.notna(), 10.5, np.arange(len(merged))), kind="stable"
    )
    return merged.iloc[order].reset_index(drop=True)


STAT_TABLES = (
    "summary",
    "comparisons",
    "agreement",
    "winrates",
    "bradley_terry",
    "length_bias",
    "position_effects",
)


def test_attention_rows_stay_out_of_every_statistic_and_flag_the_failing_annotator(frame):
    opts = AnalysisOptions(seed=4, n_permutations=300, n_bootstrap=200)
    plain = analyze(frame, protocol="rating", dimensions=DIMS, options=opts)
    marked = with_attention_rows(frame, failing="ann2")
    res = analyze(marked, protocol="rating", dimensions=DIMS, options=opts)
    for name in STAT_TABLES:
        pd.testing.assert_frame_equal(getattr(res, name), getattr(plain, name), obj=name)
    assert "attention-check" not in res.systems and "attention-check" not in set(
        res.judgments.system
    )
    assert res.info["n_judgments_analysed"] == plain.info["n_judgments_analysed"]
    assert res.info["n_attention_judgments"] == 3 * 2 and res.info["n_rows_attention"] == 3 * 2 * 3
    assert any(m.startswith("Attention checks: 6 judgments") for m in res.methods)
    assert not any(m.startswith("Attention checks") for m in plain.methods)
    q = res.annotator_quality.set_index("annotator")
    assert q.loc["ann2", "attention_pass_rate"] == 0.0 and q.loc["ann2", "n_attention"] == 2
    assert q.loc["ann2", "flag_attention"] and q.loc["ann2", "reasons"] == "attention"
    assert q.loc["ann1", "attention_pass_rate"] == 1.0 and not q.loc["ann1", "flagged"]
    # attention judgments count as judgments in the quality table
    assert (
        q.loc["ann1", "n_judgments"]
        == plain.annotator_quality.set_index("annotator").loc["ann1", "n_judgments"] + 2
    )
    assert res.info["flagged_annotators"] == ["ann2"]
    # the exclusion effect compares with and without the flagged annotator ...
    ee = res.exclusion_effect
    assert len(ee) and (ee.n_annotators_excluded == 1).all()
    # ... and excluding the flagged equals leaving ann2 out of the plain frame
    dropped = analyze(
        marked,
        protocol="rating",
        dimensions=DIMS,
        options=dataclasses.replace(opts, exclude_flagged=True),
    )
    by_hand = analyze(
        frame[frame.annotator != "ann2"], protocol="rating", dimensions=DIMS, options=opts
    )
    for name in ("summary", "comparisons", "agreement"):
        pd.testing.assert_frame_equal(getattr(dropped, name), getattr(by_hand, name), obj=name)
    assert dropped.annotator_quality.set_index("annotator").loc["ann2", "excluded"]


def test_attention_rows_of_pairwise_studies_and_text_flags(frame):
    base = pairwise_frame()
    opts = AnalysisOptions(n_permutations=200, n_bootstrap=100)
    plain = analyze(base, protocol="pairwise", dimensions=PAIR_DIMS, options=opts)
    marked = with_attention_rows(base, failing="ann1", pairwise=True)
    marked["attention_passed"] = marked["attention_passed"].map(
        {True: "true", False: "false", None: None}
    )  # as read back from a CSV
    res = analyze(marked, protocol="pairwise", dimensions=PAIR_DIMS, options=opts)
    for name in STAT_TABLES:
        pd.testing.assert_frame_equal(getattr(res, name), getattr(plain, name), obj=name)
    q = res.annotator_quality.set_index("annotator")
    assert q.loc["ann1", "flag_attention"] and not q.loc["ann2", "flag_attention"]
    bad = marked.copy()
    bad.loc[bad.attention_passed.notna(), "attention_passed"] = "maybe"
    with pytest.raises(ValueError, match="attention_passed must be true or false"):
        analyze(bad, protocol="pairwise", dimensions=PAIR_DIMS, options=opts)


def test_attention_rows_of_expired_leases_follow_include_partial(frame):
    marked = with_attention_rows(frame, failing="ann3")
    marked.loc[
        (marked.annotator == "ann3") & marked.attention_passed.notna(), "assignment_status"
    ] = "expired"
    opts = AnalysisOptions(n_permutations=50, n_bootstrap=50)
    res = analyze(marked, protocol="rating", dimensions=DIMS, options=opts)
    assert res.annotator_quality.set_index("annotator").loc["ann3", "n_attention"] == 0
    kept = analyze(
        marked,
        protocol="rating",
        dimensions=DIMS,
        options=dataclasses.replace(opts, include_partial=True),
    )
    assert kept.annotator_quality.set_index("annotator").loc["ann3", "flag_attention"]


def test_zscore_convention_and_two_sided_rule_are_options(frame):
    f = frame.copy()
    f.loc[(f.annotator == "ann3") & (f.dimension == "empathy"), "value"] = 50.0  # constant
    opts = dict(n_permutations=200, n_bootstrap=50, seed=2)
    pop = analyze(f, protocol="rating", dimensions=DIMS, options=AnalysisOptions(**opts))
    wmt = analyze(
        f,
        protocol="rating",
        dimensions=DIMS,
        options=AnalysisOptions(zscore="wmt", permutation_two_sided="doubled", **opts),
    )
    # WMT / Appraise: sample SD (n - 1), z = 0 for the constant annotator
    g = f.groupby(["annotator", "dimension"])["value"]
    sd = g.transform(lambda v: v.std(ddof=1))
    f["z"] = ((f["value"] - g.transform("mean")) / sd).where(sd > 0, 0.0)
    za, zb = item_means(f, "empathy", "A", "z"), item_means(f, "empathy", "B", "z")
    r = row(wmt.comparisons, dimension="empathy", system_a="A", system_b="B", variant="z")
    assert r["t"] == pytest.approx(stats.ttest_rel(za, zb).statistic, rel=1e-9)
    assert wmt.judgments.loc[wmt.judgments.annotator == "ann3", "value_z"].notna().all()
    kept = pop.judgments.loc[
        (pop.judgments.annotator == "ann3") & (pop.judgments.dimension == "empathy")
    ]
    assert kept["value_z"].isna().all()
    text = " ".join(wmt.methods)
    assert "sample SD (n - 1)" in text and "zscore=wmt" in text
    assert "permutation_two_sided=doubled" in text and "2 x smaller one-sided p" in text
    assert "population SD" in " ".join(pop.methods) and "|T*| >= |T|" in " ".join(pop.methods)
    with pytest.raises(ValueError, match="zscore"):
        AnalysisOptions(zscore="sample")  # type: ignore[arg-type]


def test_paired_comparisons_report_d_av_and_d_rm(frame, result):
    a, b = item_means(frame, "empathy", "A"), item_means(frame, "empathy", "B")
    r = row(result.comparisons, dimension="empathy", system_a="A", system_b="B", variant="raw")
    d = a - b
    s_av = (a.std(ddof=1) + b.std(ddof=1)) / 2
    corr = stats.pearsonr(a, b).statistic
    assert r["cohens_d_av"] == pytest.approx(d.mean() / s_av)
    assert r["cohens_d_rm"] == pytest.approx(d.mean() / d.std(ddof=1) * math.sqrt(2 * (1 - corr)))
    welch = row(result.comparisons, dimension="empathy", system_a="A", system_b="D", variant="raw")
    assert welch["design"] == "welch" and math.isnan(welch["cohens_d_av"])
    assert "cohens_d_rm = cohens_dz x sqrt(2(1 - r))" in " ".join(result.methods)


def test_free_marginal_kappa_counts_the_scale_points_offered(frame):
    dims = [DIMS[0], dict(DIMS[1], points=5), DIMS[2]]
    res = analyze(
        frame,
        protocol="rating",
        dimensions=dims,
        options=AnalysisOptions(n_permutations=50, n_bootstrap=50),
    )
    sub = frame[frame.dimension == "fluency"]
    table = pd.crosstab([sub.system, sub.context], sub.value).reindex(
        columns=[1.0, 2.0, 3.0, 4.0, 5.0], fill_value=0
    )
    r = row(res.agreement, dimension="fluency", metric="free_marginal_kappa")
    assert r["value"] == pytest.approx(sm_fleiss(table.to_numpy(), method="randolph"))
    assert "K = 5 scale points" in r["note"]
