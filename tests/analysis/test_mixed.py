"""analysis.mixed: the REML fit against statsmodels' MixedLM, the slider model's interval
coverage in a simulation with known variance components, and the model tables."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.stats.multitest import multipletests

from analysis import mixed
from analysis.options import AnalysisOptions

SYSTEMS = ["a", "b", "c"]
N_STUDIES = 20  # simulated studies of the coverage test (bench/analysis.py runs 400)


def crossed_study(
    rng: np.random.Generator,
    *,
    n_contexts: int = 12,
    n_annotators: int = 8,
    k: int = 3,
    effects: tuple[float, ...] = (3.0, 0.0, -2.0),
    sd: tuple[float, float, float, float] = (4.0, 3.0, 2.0, 5.0),
) -> pd.DataFrame:
    """Every item (context x system) rated by k distinct annotators drawn at random;
    sd = (annotator, context, item, residual)."""
    sd_a, sd_c, sd_i, sd_e = sd
    u = rng.normal(0, sd_a, n_annotators)
    v = rng.normal(0, sd_c, n_contexts)
    rows = []
    for c in range(n_contexts):
        for s, eff in enumerate(effects):
            w = rng.normal(0, sd_i)
            for a in rng.choice(n_annotators, size=k, replace=False):
                rows.append(
                    {
                        "annotator": f"ann{a}",
                        "context": f"ctx{c}",
                        "system": SYSTEMS[s],
                        "value": 50 + eff + u[a] + v[c] + w + rng.normal(0, sd_e),
                    }
                )
    return pd.DataFrame(rows)


def test_reml_fit_matches_statsmodels_mixedlm():
    data = crossed_study(np.random.default_rng(7))
    fit = mixed.slider_model(data, SYSTEMS)
    data["item"] = data["context"] + ":" + data["system"]
    data["one"] = 1
    model = smf.mixedlm(
        "value ~ 0 + C(system)",
        data,
        groups="one",
        re_formula="0",
        vc_formula={k: f"0 + C({k})" for k in ("annotator", "context", "item")},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = model.fit(reml=True, method=["lbfgs"])
    np.testing.assert_allclose(fit.beta, ref.fe_params.to_numpy(), rtol=1e-4)
    # ours is the GLS covariance (X' V^-1 X)^-1 at the REML estimates (what lme4 reports);
    # MixedLM inverts the observed information of all parameters: they differ by < 1 %
    np.testing.assert_allclose(np.sqrt(np.diag(fit.cov_beta)), ref.bse_fe.to_numpy(), rtol=1e-2)
    np.testing.assert_allclose(fit.sd_residual**2, ref.scale, rtol=2e-3)
    names = list(ref.model.exog_vc.names)
    for name, var in zip(names, ref.vcomp, strict=True):
        assert fit.sd_random[name] ** 2 == pytest.approx(var, rel=5e-3, abs=1e-3 * ref.scale)
    # the REML criterion is the same function: statsmodels' log-likelihood is -deviance / 2
    assert -fit.reml_deviance / 2 == pytest.approx(ref.llf, rel=1e-6)


def test_satterthwaite_df_of_a_paired_design_is_the_paired_t_tests():
    """Two systems rated once on each context, a random context effect: the REML contrast
    is the paired t-test (same t) and Satterthwaite's df is exactly n - 1 (balanced)."""
    from scipy import stats

    rng = np.random.default_rng(1)
    n = 25
    v = rng.normal(0, 5, n)
    a, b = 52 + v + rng.normal(0, 3, n), 50 + v + rng.normal(0, 3, n)
    X = np.repeat(np.eye(2), n, axis=0)
    fit = mixed.fit_crossed_lmm(np.r_[a, b], X, {"context": np.r_[np.arange(n), np.arange(n)]})
    c = np.array([1.0, -1.0])
    ref = stats.ttest_rel(a, b)
    assert (c @ fit.beta) / np.sqrt(c @ fit.cov_beta @ c) == pytest.approx(ref.statistic, rel=1e-4)
    assert fit.satterthwaite_df(c)[0] == pytest.approx(n - 1, rel=1e-3)


def test_slider_interval_covers_known_effect_about_95_percent():
    """20 simulated studies x 3 contrasts = 60 intervals for known differences. The
    contrasts of one study are correlated, so the binomial SE at 95 % (0.028 for 60
    independent intervals) is inflated to ~0.035; 0.85 is ~3 SE below 95 %. A model that
    ignores the item variance (annotator and context only) covers far less (0.73 with this
    seed): the test can fail. bench/analysis.py repeats it with 400 studies."""
    rng = np.random.default_rng(2020)
    effects = np.array([3.0, 0.0, -2.0])
    truth = {("a", "b"): 3.0, ("a", "c"): 5.0, ("b", "c"): 2.0}
    hits = hits_without_item = total = 0
    for _ in range(N_STUDIES):
        data = crossed_study(rng, n_contexts=16, effects=tuple(effects), sd=(4, 2, 5, 4))
        table = mixed.mixed_model_table(
            data.assign(dimension="s"),
            [{"key": "s", "type": "slider"}],
            SYSTEMS,
            AnalysisOptions(),
        )
        no_item = mixed.fit_crossed_lmm(
            data["value"].to_numpy(),
            mixed._indicator(data["system"], SYSTEMS),
            {"annotator": data["annotator"].to_numpy(), "context": data["context"].to_numpy()},
        )
        for row in table.itertuples():
            d = truth[(row.system_a, row.system_b)]
            hits += row.ci_low <= d <= row.ci_high
            i, j = SYSTEMS.index(row.system_a), SYSTEMS.index(row.system_b)
            c = np.zeros(3)
            c[i], c[j] = 1, -1
            se = np.sqrt(c @ no_item.cov_beta @ c)
            hits_without_item += abs(c @ no_item.beta - d) <= 1.96 * se
            total += 1
    assert total == 3 * N_STUDIES
    assert 0.85 <= hits / total <= 1.0
    assert hits_without_item / total < hits / total - 0.1


def test_table_rows_labels_and_corrections():
    rng = np.random.default_rng(3)
    data = crossed_study(rng)
    likert = data.assign(dimension="lik", value=np.clip(np.round(data["value"] / 12), 2, 6))
    check = data.assign(dimension="ok", value=(data["value"] > 50).astype(float))
    frame = pd.concat([data.assign(dimension="s"), likert, check], ignore_index=True)
    dims = [
        {"key": "s", "type": "slider"},
        {"key": "lik", "type": "likert"},
        {"key": "ok", "type": "checkbox"},
    ]
    options = AnalysisOptions(alternative="greater")
    table = mixed.mixed_model_table(frame, dims, SYSTEMS, options)
    assert list(table.columns) == mixed.MIXED_COLUMNS
    assert list(table["dimension"]) == ["s"] * 3 + ["lik"] * 3 + ["ok"] * 3
    assert list(table["system_a"][:3]) == ["a", "a", "b"]
    assert set(table["model"]) == set(mixed.MODEL_LABELS.values())
    for _, rows in table.groupby("dimension"):
        holm = multipletests(rows["p_value"], method="holm")[1]
        np.testing.assert_allclose(rows["p_holm"], holm, rtol=1e-12)
    # one-sided greater: slider rows t with Satterthwaite df, the others z
    from scipy.stats import norm, t

    slider = table["dimension"] == "s"
    assert table.loc[slider, "df"].gt(5).all() and table.loc[~slider, "df"].isna().all()
    np.testing.assert_allclose(
        table.loc[slider, "p_value"],
        t.sf(table.loc[slider, "statistic"], table.loc[slider, "df"]),
        rtol=1e-10,
    )
    np.testing.assert_allclose(
        table.loc[~slider, "p_value"], norm.sf(table.loc[~slider, "statistic"]), rtol=1e-12
    )
    assert (table["ci_low"] < table["estimate"]).all()
    assert mixed.mixed_methods(table, options)[0].startswith("Model-based comparisons (slider")


def test_checkbox_gee_balanced_design_gives_log_odds_ratio_of_shares():
    """With every context rated the same number of times for every system, the GEE's
    marginal log-odds per system are the logits of the shares of Yes (a closed form)."""
    rng = np.random.default_rng(11)
    rows = []
    for c in range(30):
        ctx_effect = rng.normal(0, 1)
        for s, eff in zip(SYSTEMS, (0.8, 0.0, -0.5), strict=True):
            for r in range(3):
                p = 1 / (1 + np.exp(-(eff + ctx_effect)))
                rows.append(
                    {
                        "annotator": f"x{r}",
                        "context": f"c{c}",
                        "system": s,
                        "dimension": "ok",
                        "value": float(rng.random() < p),
                    }
                )
    frame = pd.DataFrame(rows)
    table = mixed.mixed_model_table(
        frame, [{"key": "ok", "type": "checkbox"}], SYSTEMS, AnalysisOptions()
    )
    share = frame.groupby("system")["value"].mean()
    logit = np.log(share / (1 - share))
    want = [logit["a"] - logit["b"], logit["a"] - logit["c"], logit["b"] - logit["c"]]
    np.testing.assert_allclose(table["estimate"], want, atol=1e-5)
    # robust SE from statsmodels' own GEE fit with treatment coding agrees for a vs b
    X = sm.add_constant((frame["system"] == "a").astype(float).to_numpy())
    sub = frame["system"].isin(["a", "b"]).to_numpy()
    ref = sm.GEE(
        frame["value"][sub].to_numpy(),
        X[sub],
        groups=frame["context"][sub].to_numpy(),
        family=sm.families.Binomial(),
        cov_struct=sm.cov_struct.Exchangeable(),
    ).fit()
    assert ref.params[1] == pytest.approx(want[0], abs=1e-5)


def test_study_analysis_adds_the_table_when_asked(tmp_path):
    from analysis.bundle import write_bundle
    from analysis.study_analysis import analyze
    from tests.analysis.golden_bundles import RATING_DIMS, rating_study

    frame = rating_study()
    plain = analyze(frame, protocol="rating", dimensions=RATING_DIMS)
    assert plain.mixed_models.empty and "mixed_models" not in plain.applicable_tables()
    result = analyze(
        frame, protocol="rating", dimensions=RATING_DIMS, options=AnalysisOptions(mixed_models=True)
    )
    table = result.mixed_models
    assert list(table.columns) == mixed.MIXED_COLUMNS
    assert len(table) == 3 * 3  # 3 dimensions x 3 pairs
    assert any(m.startswith("Model-based comparisons (slider") for m in result.methods)
    # the other tables are those of the plain run
    pd.testing.assert_frame_equal(result.comparisons, plain.comparisons)
    files = {
        p.relative_to(tmp_path).as_posix() for p in write_bundle(result, tmp_path, plots=False)
    }
    assert {"mixed_models.csv", "markdown/mixed_models.md", "latex/mixed_models.tex"} <= files
    report = (tmp_path / "report.md").read_text()
    assert "### Model-based comparisons of systems" in report
    assert "LMM (REML), Satterthwaite t" in report


def readme_example() -> dict[str, str]:
    """The numbers of analysis/README.md's worked example (EmPO-shaped synthetic study),
    as the README prints them. Resample counts are lowered: no printed number uses them."""
    from analysis.formatting import fixed, p_value
    from analysis.study_analysis import analyze
    from analysis.synthetic_study import EMPO_MEANS, empo_shaped_study

    frame, dims = empo_shaped_study(seed=0)
    options = AnalysisOptions(
        alternative="greater",
        systems=("baseline", "sft_dpo", "length_control", "sft", "human"),
        mixed_models=True,
        n_permutations=100,
        n_bootstrap=100,
    )
    result = analyze(frame, protocol="rating", dimensions=dims, options=options)
    t = result.comparisons[result.comparisons["variant"] == "raw"]
    rows = t.merge(
        result.mixed_models, on=["dimension", "system_a", "system_b"], suffixes=("_t", "_m")
    )
    true = [
        EMPO_MEANS[r.dimension][r.system_a] - EMPO_MEANS[r.dimension][r.system_b]
        for r in rows.itertuples()
    ]
    rows["true"] = true
    eng = rows[rows["dimension"] == "conversational_engagingness"]
    lines = [
        f"| {r.system_a} > {r.system_b} | {fixed(r.true, 1)} | {fixed(r.mean_diff, 2)} | "
        f"{fixed(r.cohens_d_pooled, 2)} | {p_value(r.p_value_t)} | {fixed(r.estimate, 2)} "
        f"[{fixed(r.ci_low_m, 2)}, {fixed(r.ci_high_m, 2)}] | {p_value(r.p_value_m)} |"
        for r in eng.itertuples()
    ]
    real = rows["true"] > 0

    def found(col: str) -> str:
        hit = rows[col] < 0.05
        return f"{int((hit & real).sum())} of the {int(real.sum())} true differences"

    counts = (
        f"the paired t-test on item means finds {found('p_value_t')} at one-sided p < 0.05 "
        f"({found('p_bonferroni_t').split(' of')[0]} after Bonferroni) and "
        f"{int(((rows['p_value_t'] < 0.05) & ~real).sum())} of the "
        f"{int((~real).sum())} pairs without one; the model finds {found('p_value_m')} "
        f"({found('p_bonferroni_m').split(' of')[0]} after Bonferroni) and "
        f"{int(((rows['p_value_m'] < 0.05) & ~real).sum())} of the others."
    )
    e = result.mixed_models[result.mixed_models["dimension"] == "conversational_engagingness"]
    sds = ", ".join(
        f"{name} {fixed(e[f'sd_{name}'].iloc[0], 1)}"
        for name in ("annotator", "context", "item", "residual")
    )
    return {"EXAMPLE_ROWS": "\n".join(lines), "EXAMPLE_COUNTS": counts, "EXAMPLE_SDS": sds}


def test_readme_worked_example_is_what_the_code_computes():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "analysis" / "README.md").read_text()
    for key, text in readme_example().items():
        assert text in readme, f"analysis/README.md: {key} should read\n{text}"


def test_a_model_that_cannot_be_fitted_says_why_in_the_tables():
    from analysis import tables as tbl

    data = crossed_study(np.random.default_rng(4)).assign(dimension="s")
    data.loc[data["system"] == "c", "value"] = np.inf  # a broken value: no fit
    table = mixed.mixed_model_table(
        data, [{"key": "s", "type": "slider"}], SYSTEMS, AnalysisOptions()
    )
    assert table["estimate"].isna().all()
    assert table["note"].str.startswith("model could not be fitted").all()
    readable = tbl.readable(
        "mixed_models", table, tbl.TableContext(dimensions=({"key": "s", "type": "slider"},))
    )
    assert readable.headers[-1] == "Note"
    assert dict(readable.notes)  # the missing cells carry a footnote
    assert "the model could not be fitted" in dict(readable.notes).values()
