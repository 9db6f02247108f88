"""analysis.power: the vectorised design simulation against statsmodels' analytic paired t
power (TTestPower), the permutation test and the analytic mixed-model power against closed
forms, the layout against the batch designer's promises, and pilot components."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.power import TTestPower

from analysis import power as pw
from analysis.synthetic_study import simulate_judgments

# no annotator variance: the per-context differences are iid normal, so the paired t power
# is exactly TTestPower's
INDEPENDENT = pw.VarianceComponents(annotator=0.0, context=5.0, item=6.0, residual=12.0)
N_SIMS = 2000  # Monte Carlo SE of a power near 0.5: 0.011; tolerances are 4 SE


def test_layout_follows_the_batch_designer():
    design = pw.PlannedDesign(n_contexts=30, n_systems=3, batch_size=15, block_size=5, overlap=3)
    layout = pw.design_layout(design)
    # every output (context x system) gets exactly k judgments, each from a different annotator
    item = layout.context * 3 + layout.system
    assert np.bincount(item, minlength=90).tolist() == [3] * 90
    pairs = pd.DataFrame({"item": item, "ann": layout.annotator})
    assert not pairs.duplicated().any()
    # one batch of 15 per annotator
    assert layout.n_annotators == 30 * 3 * 3 // 15
    assert np.bincount(layout.annotator).tolist() == [15] * layout.n_annotators


@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_simulated_paired_t_power_agrees_with_ttestpower(alternative):
    design = pw.PlannedDesign(n_contexts=45, n_systems=2)
    effect = pw.effect_in_points(0.3, INDEPENDENT, k=3)
    row = pw.simulate_power(
        design, INDEPENDENT, effect, n_sims=N_SIMS, n_permutations=500, alternative=alternative
    )
    want = TTestPower().power(
        effect_size=0.3,
        nobs=45,
        alpha=0.05,
        alternative="larger" if alternative == "greater" else "two-sided",
    )
    assert row["d_z"] == pytest.approx(0.3)
    assert row["power_t_analytic"] == pytest.approx(want, rel=1e-12)
    se = math.sqrt(want * (1 - want) / N_SIMS)
    assert abs(row["power_paired_t"] - want) < 4 * se
    # the permutation test has (nearly) the power of the t-test for normal differences
    assert abs(row["power_permutation"] - row["power_paired_t"]) < 4 * se


def test_no_difference_rejects_at_alpha():
    row = pw.simulate_power(
        pw.PlannedDesign(n_contexts=30, n_systems=2), INDEPENDENT, 0.0, n_sims=N_SIMS
    )
    se = math.sqrt(0.05 * 0.95 / N_SIMS)
    assert abs(row["power_paired_t"] - 0.05) < 4 * se
    assert abs(row["power_permutation"] - 0.05) < 4 * se
    assert row["power_mixed_analytic"] == pytest.approx(0.05)
    # the size columns are the same studies without the difference: here identical
    assert row["size_paired_t"] == row["power_paired_t"]
    assert row["size_permutation"] == row["power_permutation"]


def test_mixed_analytic_power_closed_form_without_annotator_variance():
    """Balanced, no annotator variance: the GLS contrast is the difference of the two
    systems' means, SE = sd_difference(k) / sqrt(n); power is the z test's."""
    design = pw.PlannedDesign(n_contexts=60, n_systems=3)
    row = pw.simulate_power(design, INDEPENDENT, 2.5, n_sims=10, n_permutations=10)
    se = INDEPENDENT.sd_difference(3) / math.sqrt(60)
    z = sps.norm.isf(0.025)
    want = sps.norm.sf(z - 2.5 / se) + sps.norm.cdf(-z - 2.5 / se)
    assert row["power_mixed_analytic"] == pytest.approx(want, rel=1e-6)


def test_annotator_variance_inflates_the_item_mean_tests_type_i_error():
    """EmPO's layout (5 systems, blocks of 5 contexts from one system, one annotator per
    batch): an annotator's offset is shared by the 5 item means of a block, so the
    per-context differences are correlated and the paired t-test on item means rejects a
    true null more often than alpha (about 0.09 with these components); without annotator
    variance it holds alpha (test above). The mixed model, which models the annotators,
    still has more power."""
    comp = pw.VarianceComponents(annotator=10.0, context=0.0, item=7.5, residual=12.0)
    row = pw.simulate_power(pw.PlannedDesign(n_contexts=135, n_systems=5), comp, 4.0, n_sims=N_SIMS)
    se = math.sqrt(0.05 * 0.95 / N_SIMS)
    assert row["size_paired_t"] > 0.05 + 4 * se
    assert row["size_permutation"] > 0.05 + 4 * se
    assert row["power_mixed_analytic"] > row["power_paired_t"] + 0.03


def test_effect_sizes_and_curve():
    comp = pw.VarianceComponents(annotator=3.0, context=4.0, item=5.0, residual=10.0)
    assert pw.effect_in_points(0.2, comp, 3, "dz") == pytest.approx(
        0.2 * math.sqrt(2 * 25 + 2 * (9 + 100) / 3)
    )
    assert pw.effect_in_points(0.2, comp, 3, "pooled") == pytest.approx(
        0.2 * math.sqrt(16 + 25 + (9 + 100) / 3)
    )
    with pytest.raises(ValueError, match="d kind"):
        pw.effect_in_points(0.2, comp, 3, "hedges")
    curve = pw.power_curve(
        pw.PlannedDesign(n_contexts=15, n_systems=2),
        comp,
        5.0,
        [15, 60, 150],
        n_sims=300,
        n_permutations=200,
    )
    assert list(curve.columns) == pw.POWER_COLUMNS
    assert curve["power_t_analytic"].is_monotonic_increasing
    assert curve["power_paired_t"].iloc[-1] > curve["power_paired_t"].iloc[0]
    n_needed = TTestPower().solve_power(effect_size=curve["d_z"].iloc[0], power=0.8, alpha=0.05)
    assert pw.smallest_contexts(curve, 0.8, "power_t_analytic") == min(
        n for n in (15, 60, 150) if n >= n_needed
    )
    assert pw.smallest_contexts(curve, 1.01) is None
    svg = pw.power_curve_svg(curve, 0.8, "test")
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_components_from_pilot_recover_the_simulated_ones():
    design = pw.PlannedDesign(n_contexts=90, n_systems=2)
    layout = pw.design_layout(design)
    truth = pw.VarianceComponents(annotator=8.0, context=6.0, item=5.0, residual=10.0)
    y = pw._simulate_chunk(np.random.default_rng(5), 1, layout, truth, 0.0)[0]
    frame = pd.DataFrame(
        {
            "annotator": layout.annotator,
            "context": layout.context,
            "system": layout.system,
            "dimension": "x",
            "value": 50 + y,
        }
    )
    got = pw.components_from_pilot(frame, "x", source="pilot demo")
    assert got.source.startswith("pilot demo: x, 540 ratings, 36 annotators")
    # one pilot of 540 ratings: each SD within 35 % (the residual, with ~300 df, closer)
    assert got.residual == pytest.approx(10.0, rel=0.15)
    for name in ("annotator", "context", "item"):
        assert getattr(got, name) == pytest.approx(getattr(truth, name), rel=0.35)
    with pytest.raises(ValueError, match="no ratings of dimension"):
        pw.components_from_pilot(frame, "missing")


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="residual SD"):
        pw.VarianceComponents(1, 1, 1, 0)
    with pytest.raises(ValueError, match="alternative"):
        pw.simulate_power(pw.PlannedDesign(n_contexts=15), INDEPENDENT, 1.0, alternative="less")


def test_simulated_judgments_are_a_canonical_frame_of_slider_ratings():
    design = pw.PlannedDesign(n_contexts=30, n_systems=3)
    means = {"x": 50.0, "y": 60.0, "z": 99.0}
    frame = simulate_judgments(design, INDEPENDENT, means, dimension="d", seed=1)
    assert list(frame.columns) == ["annotator", "context", "system", "dimension", "value"]
    assert len(frame) == 30 * 3 * 3
    assert frame["value"].between(0, 100).all() and (frame["value"] % 1 == 0).all()
    assert (frame["value"] == 100).any()  # z's ratings are clipped at the slider's end
    by = frame.groupby("system")["value"].mean()
    assert by["y"] - by["x"] == pytest.approx(10, abs=3)
    with pytest.raises(ValueError, match="means names 2 systems"):
        simulate_judgments(design, INDEPENDENT, {"x": 1.0, "y": 2.0})
