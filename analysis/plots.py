"""Figures for a results bundle, drawn with matplotlib's object API on the Agg / SVG
canvases (no pyplot, no global state, safe in a web process).

Each function draws one figure and writes it as PNG and SVG; metadata that would change
from run to run is stripped (SVG date and creator, PNG software tag) and SVG ids are
derived from a fixed hash salt, so the same result gives the same files.

* ``rating_distributions`` -- ratings per system x dimension (EmPO's Figure 6): box plots of
  the individual ratings with the mean marked; checkbox dimensions as the share of Yes answers with
  its CI (at the ``confidence`` option).
* ``winrate_bars`` -- stacked win / tie / loss bars per system pair and dimension (the shares
  of the ProsocialDialog-style pairwise tables).
* ``bradley_terry_strengths`` -- strengths with bootstrap intervals (log scale).
* ``length_bias_scatter`` -- item mean rating against response length per dimension.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FormatStrFormatter, NullFormatter

from core.vocabulary import DimensionType, Protocol

from .formatting import dimension_label, fixed

if TYPE_CHECKING:
    from .result import AnalysisResult

__all__ = ["write_plots", "save_figure"]

PALETTE = [
    "#4C72B0",
    "#DD8452",
    "#55A868",
    "#C44E52",
    "#8172B3",
    "#937860",
    "#DA8BC3",
    "#8C8C8C",
    "#CCB974",
    "#64B5CD",
]
WIN_COLOURS = ("#4C72B0", "#BBBBBB", "#DD8452")
NICE_TICKS = (
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.3,
    0.5,
    0.7,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    7.0,
    10.0,
    20.0,
    50.0,
    100.0,
)
MAX_POINTS = 300  # individual points drawn per system and panel at most (else thinned / left out)


def save_figure(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` without run-dependent metadata."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{stem}.png", out_dir / f"{stem}.svg"
    with matplotlib.rc_context({"svg.hashsalt": "evalsite", "svg.fonttype": "path"}):
        fig.savefig(png, format="png", dpi=150, metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return [png, svg]


def _grid(
    n: int, width: float = 4.2, height: float = 3.4, max_cols: int = 3
) -> tuple[Figure, list]:
    cols = max(1, min(n, max_cols))
    rows = max(1, -(-n // cols))
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    return fig, axes


def rating_distributions(result: AnalysisResult) -> Figure | None:
    data = result.judgments
    dims = result.dimensions
    if result.protocol != Protocol.RATING or data.empty or not dims:
        return None
    fig, axes = _grid(len(dims))
    systems = result.systems
    summary = result.summary.set_index(["dimension", "system"])
    for ax, dim in zip(axes, dims, strict=True):
        sub = data.loc[data["dimension"] == dim["key"]]
        if dim["type"] == DimensionType.CHECKBOX:
            means = [summary["mean"].get((dim["key"], s), np.nan) for s in systems]
            lo = [summary["ci_low"].get((dim["key"], s), np.nan) for s in systems]
            hi = [summary["ci_high"].get((dim["key"], s), np.nan) for s in systems]
            err = np.array([np.subtract(means, lo), np.subtract(hi, means)])
            ax.bar(range(len(systems)), means, color=PALETTE[: len(systems)] * 3, alpha=0.8)
            ax.errorbar(
                range(len(systems)),
                means,
                yerr=np.nan_to_num(err),
                fmt="none",
                ecolor="black",
                capsize=3,
            )
            ax.set_ylim(0, 1)
            ax.set_ylabel("share of Yes answers (item means)")
        else:
            values = [sub.loc[sub["system"] == s, "value"].to_numpy() for s in systems]
            present = [i for i, v in enumerate(values) if v.size]
            box = ax.boxplot(
                [values[i] for i in present],
                positions=present,
                widths=0.6,
                patch_artist=True,
                showfliers=False,
                medianprops={"color": "black"},
            )
            for patch, i in zip(box["boxes"], present, strict=True):
                patch.set_facecolor(PALETTE[i % len(PALETTE)])
                patch.set_alpha(0.6)
            for i in present:
                v = values[i]
                if v.size <= MAX_POINTS:  # individual ratings only where they stay legible
                    jitter = (np.arange(v.size) % 11 - 5) / 40.0  # deterministic jitter
                    ax.scatter(i + jitter, v, s=4, color="black", alpha=0.25, linewidths=0)
                ax.scatter(
                    [i], [v.mean()], marker="D", s=28, color="white", edgecolors="black", zorder=3
                )
            ax.set_ylabel("rating")
        ax.set_xticks(range(len(systems)))
        ax.set_xticklabels(systems, rotation=30, ha="right")
        ax.set_title(f"{dimension_label(dim)} ({dim['type']})", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Ratings per system (boxes: ratings; diamonds: means)", fontsize=11)
    return fig


def winrate_bars(result: AnalysisResult) -> Figure | None:
    table = result.winrates
    if result.protocol != Protocol.PAIRWISE or table.empty:
        return None
    dims = {d["key"]: d for d in result.dimensions}
    labels = [
        f"{dimension_label(dims.get(r.dimension), r.dimension)}: {r.system_a} vs {r.system_b}"
        for r in table.itertuples()
    ]
    fig = Figure(figsize=(8, 0.45 * len(labels) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(labels))[::-1]
    left = np.zeros(len(labels))
    for col, colour, name in zip(
        ("share_a", "share_tie", "share_b"), WIN_COLOURS, ("A wins", "tie", "B wins"), strict=True
    ):
        vals = np.nan_to_num(table[col].to_numpy(dtype=float)) * 100
        ax.barh(y, vals, left=left, color=colour, label=name, edgecolor="white", height=0.7)
        for yi, li, v in zip(y, left, vals, strict=True):
            if v >= 6:
                ax.text(li + v / 2, yi, fixed(v, 0) or "", ha="center", va="center", fontsize=7)
        left += vals
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of judgments")
    ax.legend(ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize=8)
    return fig


def bradley_terry_strengths(result: AnalysisResult) -> Figure | None:
    table = result.bradley_terry
    if table.empty:
        return None
    dims = list(dict.fromkeys(table["dimension"]))
    labels = {d["key"]: d for d in result.dimensions}
    fig, axes = _grid(len(dims), width=3.8, height=3.0)
    for ax, dim in zip(axes, dims, strict=True):
        sub = table.loc[table["dimension"] == dim]
        x = np.arange(len(sub))
        s = sub["strength"].to_numpy(dtype=float)
        lo = np.nan_to_num(s - sub["ci_low"].to_numpy(dtype=float))
        hi = np.nan_to_num(sub["ci_high"].to_numpy(dtype=float) - s)
        ax.errorbar(x, s, yerr=[lo, hi], fmt="o", color="#4C72B0", capsize=3)
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_yscale("log")
        bottom, top = ax.get_ylim()
        ticks = [v for v in NICE_TICKS if bottom <= v <= top] or [1.0]
        ax.yaxis.set_major_locator(FixedLocator(ticks))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(x)
        ax.set_xticklabels(sub["system"].tolist(), rotation=30, ha="right")
        ax.set_title(dimension_label(labels.get(dim), dim), fontsize=10)
        ax.set_ylabel("strength (geometric mean 1)")
    fig.suptitle("Bradley–Terry strengths with bootstrap intervals", fontsize=11)
    return fig


def length_bias_scatter(result: AnalysisResult) -> Figure | None:
    data = result.judgments
    if result.protocol != Protocol.RATING or "response_length" not in data.columns:
        return None
    lengths = data["response_length"].astype(float)
    if lengths.isna().all():
        return None
    dims = result.dimensions
    fig, axes = _grid(len(dims), width=3.8, height=3.2)
    lb = result.length_bias.set_index(["dimension", "system"]) if len(result.length_bias) else None
    for ax, dim in zip(axes, dims, strict=True):
        sub = data.loc[data["dimension"] == dim["key"]]
        items = sub.groupby(["system", "context"], sort=True).agg(
            value=("value", "mean"), length=("response_length", "mean")
        )
        for i, system in enumerate(result.systems):
            if system not in items.index.get_level_values(0):
                continue
            part = items.loc[system]
            step = max(1, -(-len(part) // MAX_POINTS))  # every step-th item (deterministic)
            part = part.iloc[::step]
            ax.scatter(
                part["length"],
                part["value"],
                s=8,
                alpha=0.6,
                color=PALETTE[i % len(PALETTE)],
                label=system,
                linewidths=0,
            )
        ok = items.dropna()
        if len(ok) >= 2 and ok["length"].nunique() > 1:
            slope, icept = np.polyfit(ok["length"], ok["value"], 1)
            xs = np.linspace(ok["length"].min(), ok["length"].max(), 2)
            ax.plot(xs, icept + slope * xs, color="black", lw=1)
        title = dimension_label(dim)
        if lb is not None and (dim["key"], "all") in lb.index:
            r = lb.loc[(dim["key"], "all"), "pearson_r"]
            if r == r:
                title += f" (r = {fixed(r, 2)})"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("response length (words)")
        ax.set_ylabel("item mean rating")
    if axes:
        axes[0].legend(fontsize=7, frameon=False)
    return fig


FIGURES = {
    "rating_distributions": rating_distributions,
    "winrates": winrate_bars,
    "bradley_terry": bradley_terry_strengths,
    "length_bias": length_bias_scatter,
}


def write_plots(result: AnalysisResult, out_dir: Path) -> list[Path]:
    """Draw every figure that applies to ``result`` into ``out_dir``; return the files."""
    written: list[Path] = []
    for stem, draw in FIGURES.items():
        fig = draw(result)
        if fig is not None:
            written += save_figure(fig, Path(out_dir), stem)
    return written
