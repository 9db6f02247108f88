"""Power analysis at design time: simulate a planned rating study many times and count how
often each test finds a given difference between two systems. Pure (no Django).

The planned design is laid out by the study's own batch designer
(:func:`annotation.design.design_rating_batches`: contexts, systems, batch and block
layout, overlap k, ordering), so the simulated annotators see exactly what real ones
would. Ratings follow the slider model of :mod:`analysis.mixed`::

    y = effect * [system is A] + u_annotator + v_context + w_item + e

with the four SDs (:class:`VarianceComponents`) fitted on a pilot study
(:func:`components_from_pilot`) or entered by the researcher. For every simulated study
the analysis does what ``analyze`` does for a paired comparison: average each item's k
ratings, take the per-context differences A - B, and run the paired t-test and the
sign-flip permutation test. Power is the share of studies with p < alpha, with its Monte
Carlo SE; the same studies without the difference give each test's actual type I error
(``size_*``: with annotators shared by a block's contexts the item-mean tests do not
hold alpha, see ``power.md``).

Vectorised: all simulated studies of one chunk are one (studies x judgments) matrix; the
item means are one sparse matrix product; the t-tests are array expressions; the
permutation tests share one sign matrix (:func:`analysis.stats.paired_permutation_tests`).
No Python loop runs per simulated study.

The mixed model is not refitted thousands of times: its power is the analytic power of the
Wald z test of the contrast with the variance components known (the GLS variance
c' (X' V^-1 X)^-1 c of this very layout), labelled as such: an upper bound on the power of
the fitted model, whose components are estimated; ``n_mixed_fits`` > 0 also
refits the REML model on that many simulated studies (slow, for checking). The analytic
paired t power (statsmodels ``TTestPower``, noncentral t) uses d_z from the components and
ignores that annotators are shared between items; with no annotator variance it is exact,
and the simulation must agree with it (tests). See ``power.md``.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import sparse
from scipy import stats as sps

from annotation.design import design_rating_batches

from . import mixed

__all__ = [
    "ALTERNATIVES",
    "D_KINDS",
    "POWER_COLUMNS",
    "PlannedDesign",
    "VarianceComponents",
    "Layout",
    "components_from_pilot",
    "design_layout",
    "effect_in_points",
    "default_contexts",
    "plan_power",
    "power_curve",
    "power_curve_figure",
    "power_curve_svg",
    "printed_rows",
    "simulate_power",
    "smallest_contexts",
]

ALTERNATIVES = ("two-sided", "greater")
#: how a standardised difference d is turned into scale points
D_KINDS = {
    "dz": "d_z: the difference over the SD of the per-context differences of item means "
    "(what TTestPower and a paired t-test use)",
    "pooled": "pooled d: the difference over the SD of the item means within a system "
    "(what EmPO reports beside its paired t-tests)",
}
POWER_COLUMNS = [
    "n_contexts",
    "n_annotators",
    "n_judgments",
    "effect_points",
    "d_z",
    "power_paired_t",
    "se_paired_t",
    "power_permutation",
    "se_permutation",
    "power_mixed_analytic",
    "power_mixed_fits",
    "se_mixed_fits",
    "power_t_analytic",
    "size_paired_t",
    "size_permutation",
]
CHUNK_CELLS = 4_000_000  # simulated ratings per chunk (32 MB of float64)


@dataclasses.dataclass(frozen=True)
class VarianceComponents:
    """SDs (in scale points) of the random effects of the slider model."""

    annotator: float
    context: float
    item: float
    residual: float
    source: str = "entered"

    def __post_init__(self) -> None:
        for name in ("annotator", "context", "item", "residual"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} SD must be a number >= 0 (got {value!r})")
        if self.residual <= 0:
            raise ValueError("residual SD must be > 0")

    def sd_difference(self, k: int) -> float:
        """SD of one context's difference of item means (k ratings each), as if every
        rating came from a different annotator."""
        return math.sqrt(2 * self.item**2 + 2 * (self.annotator**2 + self.residual**2) / k)

    def sd_item_means(self, k: int) -> float:
        """SD of the item means within one system."""
        return math.sqrt(
            self.context**2 + self.item**2 + (self.annotator**2 + self.residual**2) / k
        )


@dataclasses.dataclass(frozen=True)
class PlannedDesign:
    """What the study spec would say: contexts, systems, batches, blocks, overlap k."""

    n_contexts: int
    n_systems: int = 2
    batch_size: int = 15
    block_size: int | None = 5
    overlap: int = 3
    ordering: str = "latin_square"
    seed: int = 0

    def with_contexts(self, n: int) -> PlannedDesign:
        return dataclasses.replace(self, n_contexts=int(n))


@dataclasses.dataclass(frozen=True)
class Layout:
    """One entry per planned judgment: system, context and annotator indices."""

    system: np.ndarray
    context: np.ndarray
    annotator: np.ndarray
    n_contexts: int
    n_systems: int
    n_annotators: int

    @property
    def n_judgments(self) -> int:
        return int(self.system.size)


def design_layout(design: PlannedDesign) -> Layout:
    """The planned study's judgments as the batch designer lays them out (one annotator per
    slot of each batch). A design the designer refuses raises its ``DesignError``."""
    systems = [f"S{i + 1}" for i in range(design.n_systems)]
    contexts = [f"c{i}" for i in range(design.n_contexts)]
    designed = design_rating_batches(
        contexts,
        systems,
        design.batch_size,
        design.block_size,
        design.overlap,
        design.ordering,
        seed=design.seed,
    )
    s_idx = {s: i for i, s in enumerate(systems)}
    c_idx = {c: i for i, c in enumerate(contexts)}
    sys_l, ctx_l, ann_l = [], [], []
    annotator = 0
    for batch in designed.batches:
        bs = [s_idx[it.systems[0]] for it in batch.items]
        bc = [c_idx[it.context_id] for it in batch.items]
        for _ in range(batch.slots):
            sys_l += bs
            ctx_l += bc
            ann_l += [annotator] * len(bs)
            annotator += 1
    return Layout(
        system=np.asarray(sys_l, dtype=np.int64),
        context=np.asarray(ctx_l, dtype=np.int64),
        annotator=np.asarray(ann_l, dtype=np.int64),
        n_contexts=design.n_contexts,
        n_systems=design.n_systems,
        n_annotators=annotator,
    )


def effect_in_points(d: float, components: VarianceComponents, k: int, kind: str = "dz") -> float:
    """A standardised difference d in scale points (``D_KINDS`` says what each kind is)."""
    if kind not in D_KINDS:
        raise ValueError(f"d kind must be one of {', '.join(D_KINDS)} (got {kind!r})")
    sd = components.sd_difference(k) if kind == "dz" else components.sd_item_means(k)
    return float(d) * sd


def components_from_pilot(
    judgments: pd.DataFrame, dimension: str, *, source: str = "pilot"
) -> VarianceComponents:
    """Variance components of one slider dimension, from the slider model of
    :mod:`analysis.mixed` fitted on a pilot's judgments (canonical frame columns annotator,
    context, system, dimension, value)."""
    data = judgments.loc[
        (judgments["dimension"] == dimension) & judgments["value"].notna(),
        ["annotator", "context", "system", "value"],
    ]
    if data.empty:
        raise ValueError(f"the pilot has no ratings of dimension {dimension!r}")
    systems = sorted(data["system"].astype(str).unique())
    fit = mixed.slider_model(data.assign(system=data["system"].astype(str)), systems)
    return VarianceComponents(
        annotator=fit.sd_random["annotator"],
        context=fit.sd_random["context"],
        item=fit.sd_random["item"],
        residual=fit.sd_residual,
        source=f"{source}: {dimension}, {len(data)} ratings, {data['annotator'].nunique()} "
        f"annotators, {data['context'].nunique()} contexts",
    )


def _difference_matrix(layout: Layout) -> sparse.csr_matrix:
    """(judgments x contexts): y @ D is each context's item mean of S1 minus that of S2."""
    n = layout.n_judgments
    cols = layout.context
    weights = np.zeros(n)
    for s, sign in ((0, 1.0), (1, -1.0)):
        mask = layout.system == s
        counts = np.bincount(cols[mask], minlength=layout.n_contexts).astype(np.float64)
        if (counts == 0).any():
            raise ValueError("every context must be rated for the two compared systems")
        weights[mask] = sign / counts[cols[mask]]
    return sparse.csr_matrix((weights, (np.arange(n), cols)), shape=(n, layout.n_contexts))


def _simulate_chunk(
    rng: np.random.Generator,
    n_sims: int,
    layout: Layout,
    components: VarianceComponents,
    effect: float,
) -> np.ndarray:
    """(n_sims x judgments) simulated ratings of one chunk."""
    item = layout.context * layout.n_systems + layout.system
    n_items = layout.n_contexts * layout.n_systems
    y = rng.normal(0.0, components.residual, (n_sims, layout.n_judgments))
    y += effect * (layout.system == 0)
    if components.annotator > 0:
        y += rng.normal(0.0, components.annotator, (n_sims, layout.n_annotators))[
            :, layout.annotator
        ]
    if components.context > 0:
        y += rng.normal(0.0, components.context, (n_sims, layout.n_contexts))[:, layout.context]
    if components.item > 0:
        y += rng.normal(0.0, components.item, (n_sims, n_items))[:, item]
    return y


def _t_pvalues(diff: np.ndarray, alternative: str) -> np.ndarray:
    n = diff.shape[1]
    mean = diff.mean(axis=1)
    sd = diff.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / (sd / math.sqrt(n))
    if alternative == "greater":
        return sps.t.sf(t, n - 1)
    return 2.0 * sps.t.sf(np.abs(t), n - 1)


def _mixed_se(layout: Layout, components: VarianceComponents) -> float:
    """SE of the S1 - S2 contrast of the GLS estimate with the variance components known."""
    X = (layout.system[:, None] == np.arange(layout.n_systems)[None, :]).astype(np.float64)
    item = layout.context * layout.n_systems + layout.system
    codes = [np.unique(c, return_inverse=True)[1] for c in (layout.annotator, layout.context, item)]
    crossed = mixed._Crossed(np.zeros(layout.n_judgments), X, codes)
    theta = np.array([components.annotator, components.context, components.item])
    _, _, xvx, _ = crossed.solve(theta / components.residual)
    c = np.zeros(layout.n_systems)
    c[0], c[1] = 1.0, -1.0
    return float(components.residual * math.sqrt(c @ np.linalg.solve(xvx, c)))


def _z_power(effect: float, se: float, alpha: float, alternative: str) -> float:
    if alternative == "greater":
        return float(sps.norm.sf(sps.norm.isf(alpha) - effect / se))
    z = sps.norm.isf(alpha / 2)
    return float(sps.norm.sf(z - effect / se) + sps.norm.cdf(-z - effect / se))


def _mixed_fit_power(y: np.ndarray, layout: Layout, alpha: float, alternative: str) -> np.ndarray:
    """Rejections of the REML-fitted slider model on simulated studies (one fit each), with
    the analysis's test (t, Satterthwaite df)."""
    X = (layout.system[:, None] == np.arange(layout.n_systems)[None, :]).astype(np.float64)
    item = layout.context * layout.n_systems + layout.system
    factors = {"annotator": layout.annotator, "context": layout.context, "item": item}
    c = np.zeros(layout.n_systems)
    c[0], c[1] = 1.0, -1.0
    out = np.empty(len(y), dtype=bool)
    for i, row in enumerate(y):  # a REML fit per study: only for the few checking fits
        fit = mixed.fit_crossed_lmm(row, X, factors)
        t = (c @ fit.beta) / math.sqrt(c @ fit.cov_beta @ c)
        df = float(fit.satterthwaite_df(c)[0])
        dist = sps.t(df) if math.isfinite(df) else sps.norm
        p = dist.sf(t) if alternative == "greater" else 2 * dist.sf(abs(t))
        out[i] = p < alpha
    return out


def simulate_power(
    design: PlannedDesign,
    components: VarianceComponents,
    effect: float,
    *,
    n_sims: int = 1000,
    n_permutations: int = 1000,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    n_mixed_fits: int = 0,
    seed: int = 0,
    layout: Layout | None = None,
) -> dict:
    """Power of each test to detect ``effect`` (scale points, S1 - S2) in the planned
    design: one row of :func:`power_curve` as a dict."""
    from analysis.stats import paired_permutation_tests

    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}")
    if n_sims < 1 or n_permutations < 1:
        raise ValueError("n_sims and n_permutations must be at least 1")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    if design.n_systems < 2:
        raise ValueError("a comparison needs at least 2 systems")
    layout = layout or design_layout(design)
    D = _difference_matrix(layout)
    rng = np.random.default_rng([seed, design.n_contexts, 7])
    chunk = max(1, CHUNK_CELLS // layout.n_judgments)
    rejected_t, rejected_perm, rejected_mixed, null_t, null_perm = [], [], [], [], []
    fits_left = min(n_mixed_fits, n_sims)
    for start in range(0, n_sims, chunk):
        size = min(chunk, n_sims - start)
        y = _simulate_chunk(rng, size, layout, components, effect)
        diff = np.asarray((D.T @ y.T).T)
        # the same studies without the difference (it shifts every context's difference
        # by exactly `effect`): the tests' actual type I error in this design, for free
        both = np.concatenate([diff, diff - effect])
        pv_t = _t_pvalues(both, alternative)
        perm = paired_permutation_tests(
            both,
            alternative="greater" if alternative == "greater" else "two-sided",
            n_resamples=n_permutations,
            seed=np.random.default_rng([seed, design.n_contexts, start, 11]),
        )
        pv_perm = np.array([r.p for r in perm])
        rejected_t.append(pv_t[:size] < alpha)
        null_t.append(pv_t[size:] < alpha)
        rejected_perm.append(pv_perm[:size] < alpha)
        null_perm.append(pv_perm[size:] < alpha)
        if fits_left:
            rejected_mixed.append(_mixed_fit_power(y[:fits_left], layout, alpha, alternative))
            fits_left -= min(fits_left, size)
    k = design.overlap
    d_z = effect / components.sd_difference(k)
    p_t = float(np.concatenate(rejected_t).mean())
    p_perm = float(np.concatenate(rejected_perm).mean())
    mixed_rej = np.concatenate(rejected_mixed) if rejected_mixed else np.array([])
    p_mixed = float(mixed_rej.mean()) if mixed_rej.size else math.nan
    return {
        "n_contexts": design.n_contexts,
        "n_annotators": layout.n_annotators,
        "n_judgments": layout.n_judgments,
        "effect_points": float(effect),
        "d_z": d_z,
        "power_paired_t": p_t,
        "se_paired_t": math.sqrt(p_t * (1 - p_t) / n_sims),
        "power_permutation": p_perm,
        "se_permutation": math.sqrt(p_perm * (1 - p_perm) / n_sims),
        "power_mixed_analytic": _z_power(effect, _mixed_se(layout, components), alpha, alternative),
        "power_mixed_fits": p_mixed,
        "se_mixed_fits": math.sqrt(p_mixed * (1 - p_mixed) / mixed_rej.size)
        if mixed_rej.size
        else math.nan,
        "power_t_analytic": _analytic_t_power(d_z, design.n_contexts, alpha, alternative),
        "size_paired_t": float(np.concatenate(null_t).mean()),
        "size_permutation": float(np.concatenate(null_perm).mean()),
    }


def _analytic_t_power(d_z: float, n: int, alpha: float, alternative: str) -> float:
    from statsmodels.stats.power import TTestPower

    return float(
        TTestPower().power(
            effect_size=d_z,
            nobs=n,
            alpha=alpha,
            alternative="larger" if alternative == "greater" else "two-sided",
        )
    )


def power_curve(
    design: PlannedDesign,
    components: VarianceComponents,
    effect: float,
    contexts: Sequence[int],
    **kwargs: object,
) -> pd.DataFrame:
    """:func:`simulate_power` for each number of contexts (``POWER_COLUMNS``)."""
    rows = [
        simulate_power(design.with_contexts(n), components, effect, **kwargs)  # type: ignore[arg-type]
        for n in contexts
    ]
    return pd.DataFrame(rows).reindex(columns=POWER_COLUMNS)


def default_contexts(batch_size: int) -> list[int]:
    """A grid of study sizes: whole numbers of batches' contexts, up to 20 batches."""
    return [batch_size * i for i in (1, 2, 3, 4, 6, 8, 10, 14, 20)]


def plan_power(
    design: PlannedDesign,
    components: VarianceComponents,
    *,
    d: float | None = None,
    effect: float | None = None,
    d_kind: str = "dz",
    contexts: Sequence[int] | None = None,
    **kwargs: object,
) -> tuple[float, pd.DataFrame]:
    """The difference to detect in scale points (from ``effect`` or from ``d`` of the kind
    ``d_kind``) and the power curve over ``contexts`` (default: :func:`default_contexts`).
    What the ``plan_study`` command and the console's power page both run."""
    if effect is not None and d is None:
        points = float(effect)
    elif d is not None and effect is None:
        points = effect_in_points(float(d), components, design.overlap, d_kind)
    else:
        raise ValueError("give the difference either as d or in scale points (effect), not both")
    grid = sorted({int(n) for n in (contexts or default_contexts(design.batch_size))})
    bad = [n for n in grid if n < 1 or n % design.batch_size]
    if bad:
        raise ValueError(
            f"contexts must be whole multiples of the batch size {design.batch_size} "
            f"(got {', '.join(map(str, bad))})"
        )
    return points, power_curve(design, components, points, grid, **kwargs)


def smallest_contexts(
    table: pd.DataFrame, target: float, column: str = "power_paired_t"
) -> int | None:
    """The fewest contexts of the curve whose power reaches ``target`` (None if none does)."""
    hit = table.loc[table[column] >= target, "n_contexts"]
    return int(hit.min()) if len(hit) else None


#: the printed power table: (header, column, kind)
PRINTED = (
    ("Contexts", "n_contexts", "int"),
    ("Annotators", "n_annotators", "int"),
    ("Judgments", "n_judgments", "int"),
    ("Paired t (sim.)", "power_paired_t", "power"),
    ("Permutation (sim.)", "power_permutation", "power"),
    ("Mixed model (analytic)", "power_mixed_analytic", "plain"),
    ("Mixed model (fits)", "power_mixed_fits", "power"),
    ("Paired t (TTestPower)", "power_t_analytic", "plain"),
    ("Type I error t / perm.", "size_paired_t", "size"),
)


def printed_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The power table as a paper would print it: powers with 2 decimals, a simulated one
    with its Monte Carlo SE (0.81 ± 0.01), "–" for what was not computed."""
    from .formatting import fixed

    shown = [p for p in PRINTED if p[1] != "power_mixed_fits" or table[p[1]].notna().any()]
    rows = []
    for r in table.to_dict("records"):
        cells = []
        for _, col, kind in shown:
            v = r[col]
            if kind == "int":
                cells.append(str(int(v)))
            elif kind == "size":
                cells.append(f"{fixed(v, 3)} / {fixed(r['size_permutation'], 3)}")
            elif v is None or not math.isfinite(v):
                cells.append("–")
            elif kind == "power":
                se = r[col.replace("power_", "se_")]
                cells.append(f"{fixed(v, 2)} ± {fixed(se, 2)}")
            else:
                cells.append(fixed(v, 2) or "–")
        rows.append(cells)
    return [p[0] for p in shown], rows


CURVES = (
    ("power_paired_t", "paired t-test (simulated)"),
    ("power_permutation", "permutation test (simulated)"),
    ("power_mixed_analytic", "mixed model (analytic, known variance components)"),
    ("power_t_analytic", "paired t (analytic, TTestPower)"),
)


def power_curve_figure(table: pd.DataFrame, target: float | None = 0.8, title: str = "") -> Figure:
    """The power curve as a matplotlib Figure in the style of :mod:`analysis.plots`."""
    from .plots import PALETTE

    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.add_subplot()
    n = table["n_contexts"].to_numpy()
    for i, (col, label) in enumerate(CURVES):
        values = table[col].to_numpy(np.float64)
        style = "-" if "simulated" in label else "--"
        ax.plot(
            n,
            values,
            style,
            marker="o" if "simulated" in label else None,
            ms=4,
            color=PALETTE[i],
            label=label,
        )
        if col == "power_paired_t":
            se = table["se_paired_t"].to_numpy(np.float64)
            ax.fill_between(n, values - 1.96 * se, values + 1.96 * se, color=PALETTE[i], alpha=0.15)
    if target is not None:
        ax.axhline(target, color="#8C8C8C", lw=0.8, ls=":")
    ax.set_ylim(0, 1)
    ax.set_xlabel("contexts")
    ax.set_ylabel("power")
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return fig


def power_curve_svg(table: pd.DataFrame, target: float | None = 0.8, title: str = "") -> str:
    """The power curve as SVG text (written the way :func:`analysis.plots.save_figure`
    writes every figure: no run-dependent metadata)."""
    from .plots import save_figure

    with tempfile.TemporaryDirectory() as tmp:
        save_figure(power_curve_figure(table, target, title), Path(tmp), "power_curve")
        return (Path(tmp) / "power_curve.svg").read_text(encoding="utf-8")
