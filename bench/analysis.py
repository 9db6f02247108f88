"""Study-level analysis speed: our ``analyze`` against a straightforward loop over scipy.

    .venv/bin/python bench/analysis.py                  # EmPO size and the 100x study
    .venv/bin/python bench/analysis.py --scales 1       # EmPO size only
    .venv/bin/python bench/analysis.py --loop-subset 10 # scipy loop on 10 comparisons, scaled

Prints one JSON object. For each scale it builds a synthetic EmPO-style rating study
(135 x scale contexts x 5 systems x 3 ratings per item; four 0-100 sliders and one
checkbox; batches of 15 items in blocks of 5 from one system, one batch per annotator) and
measures, each in a fresh subprocess so peak memory is the analysis's own:

  analyze      the full study-level analysis (tables, no plots): item means, raw and
               z-scored variants, 100 comparisons (10 system pairs x 5 dimensions x 2
               variants) with t-tests, effect sizes, 10,000-resample permutation tests and
               2,000-resample bootstrap intervals, corrections, agreement (alpha, ICC,
               Fleiss), diagnostics and the exclusion effect;
  scipy_loop   per comparison scipy.stats.ttest_rel + scipy.stats.permutation_test
               (10,000 sign flips, vectorised statistic) + scipy.stats.bootstrap (2,000
               resamples, percentile) on the same item means, as a notebook would; measured
               on the first ``--loop-subset`` comparisons and scaled linearly to all of them.

and, at EmPO size (``--parts models``; both parts run by default):

  mixed        the model-based comparisons (analysis.mixed: 4 slider LMMs + 1 checkbox GEE)
               alone and inside analyze(mixed_models=True), against statsmodels' MixedLM
               on one dimension (the library fit the hand-written REML replaces); and the
               slider model's 95% interval coverage over ``--coverage-studies`` simulated
               studies with known effects (the long version of the test);
  power        analysis.power.simulate_power: 1,000 simulated EmPO-size studies with the
               paired t-test and 1,000-resample permutation tests, vectorised, against a
               Python loop per simulated study (pandas item means, scipy ttest_rel and
               permutation_test; measured on ``--loop-studies`` studies, scaled); and the
               analytic mixed-model power against REML refits of simulated studies.

Times are wall-clock seconds (best of ``--repeats`` for analyze); peak memory is the
subprocess's maximum resident set size (resource.getrusage), which includes the Python
interpreter, numpy and pandas (about 100 MB on their own).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYSTEMS = ("baseline", "length_control", "sft", "sft_dpo", "human")
DIMENSIONS = [
    {"key": "emotion_understanding", "type": "slider"},
    {"key": "situational_appropriateness", "type": "slider"},
    {"key": "contextual_naturalness", "type": "slider"},
    {"key": "conversational_engagingness", "type": "slider"},
    {"key": "understandable_consistent", "type": "checkbox"},
]


def synthetic_study(scale: int = 1, seed: int = 0) -> pd.DataFrame:
    """EmPO-shaped judgments: 135*scale contexts x 5 systems x 3 ratings per item.

    Items come in blocks of 5 consecutive contexts from one system; a batch is 3 blocks
    (15 items) and is done by one annotator; each of the 3 rating rounds shuffles the
    blocks into new batches. Annotators have their own offset, spread and speed; systems
    differ a little; longer responses get slightly higher ratings. Vectorised, so building
    the 100x study costs little time and memory next to the analysis.
    """
    rng = np.random.default_rng(seed)
    n_ctx = 135 * scale
    n_sys = len(SYSTEMS)
    effects = np.array([8.0, 2.0, 3.0, 5.0, 0.0])
    lengths = rng.integers(5, 60, size=(n_sys, n_ctx)) + np.array([25, 0, 5, 10, 0])[:, None]
    item_quality = rng.normal(0, 8, size=(n_sys, n_ctx))
    block_sys = np.repeat(np.arange(n_sys), n_ctx // 5)
    block_c0 = np.tile(np.arange(0, n_ctx, 5), n_sys)
    n_blocks = block_sys.size
    n_batches = n_blocks // 3
    parts = []
    for rep in range(3):
        order = rng.permutation(n_blocks)
        batch = rep * n_batches + np.arange(n_blocks) // 3
        block_in_batch = np.arange(n_blocks) % 3
        parts.append(
            (
                np.repeat(block_sys[order], 5),
                (block_c0[order][:, None] + np.arange(5)[None, :]).ravel(),
                np.repeat(batch, 5),
                np.repeat(block_in_batch, 5),
                (block_in_batch[:, None] * 5 + np.arange(5)[None, :]).ravel(),
            )
        )
    s, c, batch, block, position = (np.concatenate(x) for x in zip(*parts, strict=True))
    n_ann = 3 * n_batches
    offset = rng.normal(0, 10, n_ann)[batch]
    spread = rng.uniform(0.6, 1.4, n_ann)[batch]
    speed = rng.uniform(4, 30, n_ann)[batch]
    n = s.size
    annotator = np.char.add("ann", batch.astype(str)).astype(object)
    context = np.char.add("ctx", np.char.zfill(c.astype(str), 6)).astype(object)
    system = np.array(SYSTEMS, dtype=object)[s]
    out = []
    for d_i, dim in enumerate(DIMENSIONS):
        latent = 50 + effects[s] + item_quality[s, c] + 0.1 * lengths[s, c] + d_i
        if dim["type"] == "slider":
            val = np.clip(np.round(latent + offset + spread * rng.normal(0, 12, n)), 0, 100)
        else:
            val = (rng.random(n) < 1 / (1 + np.exp(-(latent - 45) / 8))).astype(float)
        out.append(
            pd.DataFrame(
                {
                    "annotator": annotator,
                    "context": context,
                    "system": system,
                    "dimension": dim["key"],
                    "value": val,
                    "position": position,
                    "block": block,
                    "batch": batch,
                    "time_on_item_ms": (speed * 1000).astype(np.int64),
                    "response_length": lengths[s, c],
                    "assignment_status": "completed",
                }
            )
        )
    return pd.concat(out, ignore_index=True)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def _item_means(frame: pd.DataFrame) -> dict:
    """Per (variant, dimension, system): item means indexed by context (the notebook way)."""
    z = frame.copy()
    g = z.groupby(["annotator", "dimension"])["value"]
    z["value_z"] = (z["value"] - g.transform("mean")) / g.transform("std", ddof=0)
    out = {}
    for variant, col in (("raw", "value"), ("z", "value_z")):
        means = z.groupby(["dimension", "system", "context"])[col].mean()
        for (dim, system), series in means.groupby(level=[0, 1]):
            out[(variant, dim, system)] = series.droplevel([0, 1])
    return out


def _comparisons() -> list[tuple[str, str, str, str]]:
    pairs = [(a, b) for i, a in enumerate(SYSTEMS) for b in SYSTEMS[i + 1 :]]
    return [(v, d["key"], a, b) for v in ("raw", "z") for d in DIMENSIONS for a, b in pairs]


def worker_analyze(scale: int, repeats: int) -> dict:
    from analysis.study_analysis import AnalysisOptions, analyze

    frame = synthetic_study(scale)
    options = AnalysisOptions(n_permutations=10_000, n_bootstrap=2_000, seed=0)
    rss_data = _rss_mb()
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = analyze(frame, protocol="rating", dimensions=DIMENSIONS, options=options)
        times.append(time.perf_counter() - t0)
    rss_peak = _rss_mb()
    tracemalloc.start()
    analyze(frame, protocol="rating", dimensions=DIMENSIONS, options=options)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    assert result is not None
    return {
        "judgments": int(len(frame) // len(DIMENSIONS)),
        "rows": int(len(frame)),
        "contexts": int(frame["context"].nunique()),
        "annotators": int(frame["annotator"].nunique()),
        "comparisons": int(len(result.comparisons)),
        "designs": sorted(set(result.comparisons["design"])),
        "first_call_s": round(times[0], 3),
        "best_s": round(min(times), 3),
        "all_s": [round(t, 3) for t in times],
        "peak_rss_mb_after_data": round(rss_data, 1),
        "peak_rss_mb": round(rss_peak, 1),
        "tracemalloc_peak_mb_analysis": round(traced_peak, 1),
    }


def worker_scipy_loop(scale: int, subset: int) -> dict:
    from scipy import stats

    frame = synthetic_study(scale)
    comparisons = _comparisons()
    chosen = comparisons[: max(1, min(subset, len(comparisons)))]
    t0 = time.perf_counter()
    means = _item_means(frame)
    t_means = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    t1 = time.perf_counter()
    for variant, dim, a, b in chosen:
        x, y = means[(variant, dim, a)], means[(variant, dim, b)]
        common = x.index.intersection(y.index)
        x, y = x.loc[common].to_numpy(), y.loc[common].to_numpy()
        keep = ~(np.isnan(x) | np.isnan(y))
        x, y = x[keep], y[keep]
        stats.ttest_rel(x, y)
        stats.permutation_test(
            (x, y),
            lambda u, v, axis: np.mean(u - v, axis=axis),
            permutation_type="samples",
            n_resamples=10_000,
            vectorized=True,
            batch=1_000,
            rng=rng,
        )
        stats.bootstrap(
            (x - y,), np.mean, n_resamples=2_000, method="percentile", batch=500, rng=rng
        )
    t_loop = time.perf_counter() - t1
    per = t_loop / len(chosen)
    return {
        "comparisons_measured": len(chosen),
        "comparisons_total": len(comparisons),
        "item_means_s": round(t_means, 3),
        "per_comparison_s": round(per, 4),
        "loop_s_measured": round(t_loop, 3),
        "loop_s_scaled_to_all": round(t_means + per * len(comparisons), 3),
        "peak_rss_mb": round(_rss_mb(), 1),
    }


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def worker_mixed(coverage_studies: int) -> dict:
    import warnings

    import statsmodels.formula.api as smf

    from analysis import mixed
    from analysis.study_analysis import AnalysisOptions, analyze
    from tests.analysis.test_mixed import SYSTEMS as SIM_SYSTEMS
    from tests.analysis.test_mixed import crossed_study

    frame = synthetic_study(1)
    options = AnalysisOptions(n_permutations=10_000, n_bootstrap=2_000, seed=0)
    systems = list(SYSTEMS)
    table, t_table = _timed(mixed.mixed_model_table, frame, DIMENSIONS, systems, options)
    _, t_plain = _timed(analyze, frame, protocol="rating", dimensions=DIMENSIONS, options=options)
    with_mixed = AnalysisOptions(
        n_permutations=10_000, n_bootstrap=2_000, seed=0, mixed_models=True
    )
    _, t_with = _timed(analyze, frame, protocol="rating", dimensions=DIMENSIONS, options=with_mixed)
    one = frame[frame["dimension"] == "conversational_engagingness"].copy()
    fit, t_ours_one = _timed(mixed.slider_model, one, systems)
    one["item"] = one["context"] + ":" + one["system"]
    one["g"] = 1
    model = smf.mixedlm(
        "value ~ 0 + C(system)",
        one,
        groups="g",
        re_formula="0",
        vc_formula={k: f"0 + C({k})" for k in ("annotator", "context", "item")},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, t_mixedlm = _timed(model.fit, reml=True, method=["lbfgs"])
    # MixedLM's columns are C(system)[name], in sorted order
    by_name = {k.split("[", 1)[1].rstrip("]"): v for k, v in ref.fe_params.items()}
    ref_beta = np.array([by_name[s] for s in systems])
    rng = np.random.default_rng(2020)
    truth = {("a", "b"): 3.0, ("a", "c"): 5.0, ("b", "c"): 2.0}
    hits = total = 0
    t0 = time.perf_counter()
    for _ in range(coverage_studies):
        data = crossed_study(rng, n_contexts=16, effects=(3.0, 0.0, -2.0), sd=(4, 2, 5, 4))
        rows = mixed.mixed_model_table(
            data.assign(dimension="s"), [{"key": "s", "type": "slider"}], SIM_SYSTEMS, options
        )
        for r in rows.itertuples():
            hits += r.ci_low <= truth[(r.system_a, r.system_b)] <= r.ci_high
            total += 1
    t_cov = time.perf_counter() - t0
    cover = hits / total
    return {
        "mixed_table_s": round(t_table, 3),
        "mixed_rows": int(len(table)),
        "analyze_s": round(t_plain, 3),
        "analyze_with_mixed_s": round(t_with, 3),
        "ratio_with_mixed_to_plain": round(t_with / t_plain, 2),
        "one_dimension_ours_s": round(t_ours_one, 3),
        "one_dimension_statsmodels_mixedlm_s": round(t_mixedlm, 3),
        "speedup_vs_mixedlm": round(t_mixedlm / t_ours_one, 1),
        "max_abs_diff_beta_vs_mixedlm": float(np.max(np.abs(fit.beta - ref_beta))),
        "coverage_studies": coverage_studies,
        "coverage_intervals": total,
        "coverage_95": round(cover, 4),
        "coverage_binomial_se": round(float(np.sqrt(0.95 * 0.05 / total)), 4),
        "coverage_s": round(t_cov, 2),
    }


def worker_power(loop_studies: int) -> dict:
    from scipy import stats

    from analysis import power as pw
    from analysis.synthetic_study import EMPO_COMPONENTS, EMPO_DESIGN

    design, comp = EMPO_DESIGN, EMPO_COMPONENTS
    layout = pw.design_layout(design)
    n_sims, n_perm = 1000, 1000
    row, t_vec = _timed(
        pw.simulate_power,
        design,
        comp,
        3.5,
        n_sims=n_sims,
        n_permutations=n_perm,
        alternative="greater",
        layout=layout,
    )
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    rejected = 0
    for _ in range(loop_studies):  # what a notebook does: one simulated study at a time
        y = pw._simulate_chunk(rng, 1, layout, comp, 3.5)[0]
        df = pd.DataFrame({"c": layout.context, "s": layout.system, "y": y})
        means = df[df["s"] < 2].groupby(["s", "c"])["y"].mean().unstack(0)
        a, b = means[0].to_numpy(), means[1].to_numpy()
        p_t = stats.ttest_rel(a, b, alternative="greater").pvalue
        stats.permutation_test(
            (a, b),
            lambda u, v, axis: np.mean(u - v, axis=axis),
            permutation_type="samples",
            n_resamples=n_perm,
            vectorized=True,
            alternative="greater",
            rng=rng,
        )
        rejected += p_t < 0.05
    t_loop = time.perf_counter() - t0
    per = t_loop / loop_studies
    fits, t_fits = _timed(
        pw.simulate_power,
        design,
        comp,
        3.5,
        n_sims=100,
        n_permutations=100,
        alternative="greater",
        n_mixed_fits=100,
        layout=layout,
    )
    return {
        "simulated_studies": n_sims,
        "permutations": n_perm,
        "judgments_per_study": layout.n_judgments,
        "vectorised_s": round(t_vec, 3),
        "loop_studies_measured": loop_studies,
        "loop_per_study_s": round(per, 4),
        "loop_s_scaled": round(per * n_sims, 2),
        "speedup_vs_loop": round(per * n_sims / t_vec, 1),
        "power_paired_t": row["power_paired_t"],
        "size_paired_t": row["size_paired_t"],
        "power_permutation": row["power_permutation"],
        "power_mixed_analytic": round(row["power_mixed_analytic"], 4),
        "power_mixed_100_fits": fits["power_mixed_fits"],
        "se_mixed_100_fits": round(fits["se_mixed_fits"], 4),
        "mixed_fits_s": round(t_fits, 2),
    }


def _spawn(kind: str, scale: int, extra: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--scale", str(scale), "--n", str(extra)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"worker {kind} (scale {scale}) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scales", default="1,100", help="comma-separated study sizes (x EmPO)")
    parser.add_argument(
        "--repeats", type=int, default=5, help="analyze runs at scale 1 (best kept)"
    )
    parser.add_argument(
        "--loop-subset",
        type=int,
        default=0,
        help="comparisons the scipy loop measures (0: all at scale 1, 3 above)",
    )
    parser.add_argument(
        "--parts", default="analysis,models", help="analysis (the scales) and/or models"
    )
    parser.add_argument(
        "--coverage-studies", type=int, default=200, help="simulated studies of the coverage check"
    )
    parser.add_argument(
        "--loop-studies", type=int, default=50, help="studies the per-study power loop measures"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "analyze":
        print(json.dumps(worker_analyze(args.scale, args.n)))
        return
    if args.worker == "scipy_loop":
        print(json.dumps(worker_scipy_loop(args.scale, args.n)))
        return
    if args.worker == "mixed":
        print(json.dumps(worker_mixed(args.n)))
        return
    if args.worker == "power":
        print(json.dumps(worker_power(args.n)))
        return
    parts = {p.strip() for p in args.parts.split(",")}
    report: dict = {
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pandas": pd.__version__,
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "settings": "10 system pairs x 5 dimensions x 2 variants (raw, z) = 100 comparisons; "
        "10,000 permutations and 2,000 bootstrap resamples per comparison",
        "scales": {},
    }
    scales = args.scales if "analysis" in parts else ""
    for scale in (int(s) for s in scales.split(",") if s.strip()):
        repeats = args.repeats if scale == 1 else 1
        subset = args.loop_subset or (100 if scale == 1 else 3)
        ours = _spawn("analyze", scale, repeats)
        loop = _spawn("scipy_loop", scale, subset)
        report["scales"][str(scale)] = {
            "analyze": ours,
            "scipy_loop": loop,
            "speedup_vs_scipy_loop": round(loop["loop_s_scaled_to_all"] / ours["best_s"], 1),
            "speedup_first_call": round(loop["loop_s_scaled_to_all"] / ours["first_call_s"], 1),
        }
        print(json.dumps({str(scale): report["scales"][str(scale)]}), file=sys.stderr)
    if "models" in parts:
        report["mixed"] = _spawn("mixed", 1, args.coverage_studies)
        print(json.dumps({"mixed": report["mixed"]}), file=sys.stderr)
        report["power"] = _spawn("power", 1, args.loop_studies)
        print(json.dumps({"power": report["power"]}), file=sys.stderr)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
