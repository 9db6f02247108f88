"""Diagnostics: response-length bias, position / order effects, annotator quality."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats as sps

from ._base import StatResult, as_1d, t_pvalue

__all__ = [
    "ANNOTATOR_QUALITY_COLUMNS",
    "LengthBiasResult",
    "PositionEffectResult",
    "AnnotatorQualityResult",
    "length_bias",
    "position_effect",
    "annotator_quality",
]


# --------------------------------------------------------------------------------------
# Length bias
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class LengthBiasResult(StatResult):
    """Pearson and Spearman correlation of ratings with response length (two-sided p)."""

    pearson_r: float
    pearson_p: float
    spearman_rho: float
    spearman_p: float
    n: int
    method: str


def _pearson(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    n = x.size
    if n < 3:
        return math.nan, math.nan
    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float(np.dot(xc, xc)) * float(np.dot(yc, yc)))
    if den == 0:
        return math.nan, math.nan
    r = float(np.clip(np.dot(xc, yc) / den, -1.0, 1.0))
    if abs(r) == 1.0:
        return r, 0.0
    t = r * math.sqrt((n - 2) / (1.0 - r * r))
    return r, t_pvalue(t, n - 2, "two-sided")


def length_bias(ratings: ArrayLike, lengths: ArrayLike) -> LengthBiasResult:
    """Correlation of ratings with response length (tokens or characters, as given).

    Pearson r with p from ``t = r sqrt((n-2)/(1-r^2))``, df = n - 2 (identical to the exact
    test under bivariate normality); Spearman rho = Pearson r of average ranks, p from the
    same t approximation (as scipy.stats.spearmanr). Pairs with a NaN are dropped; n < 3
    or a constant variable gives NaN.
    """
    x, y = as_1d(lengths, "lengths"), as_1d(ratings, "ratings")
    if x.shape != y.shape:
        raise ValueError("ratings and lengths must have the same length")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    r, p = _pearson(x, y)
    rho, p_rho = _pearson(sps.rankdata(x), sps.rankdata(y)) if x.size else (math.nan, math.nan)
    return LengthBiasResult(
        pearson_r=r,
        pearson_p=p,
        spearman_rho=rho,
        spearman_p=p_rho,
        n=int(x.size),
        method="length bias: Pearson r (t-test) and Spearman rho (t approximation), two-sided",
    )


# --------------------------------------------------------------------------------------
# Position / order effects
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class PositionEffectResult(StatResult):
    """Mean rating by position and the OLS slope of rating on position.

    ``means``/``counts`` map each position to its mean rating / number of ratings.
    ``slope`` is the change in rating per position step, with its SE, t, df and two-sided
    p. With ``groups`` the slope is the within-group (fixed-effects) slope.
    """

    means: dict[float, float]
    counts: dict[float, int]
    slope: float
    intercept: float
    se: float
    t: float
    df: float
    p: float
    n: int
    n_groups: int
    method: str


_EXACT_FIT = 1e-24  # residual SS / total SS below which a fit is exact up to rounding


def position_effect(
    ratings: ArrayLike,
    positions: ArrayLike,
    *,
    groups: ArrayLike | None = None,
) -> PositionEffectResult:
    """Position effect inside batches (or block-order effect: pass the block index).

    OLS of rating on position: ``slope = sum (x - xbar)(y - ybar) / sum (x - xbar)^2``,
    residual variance ``s^2 = SSE / df``, ``se = s / sqrt(sum (x - xbar)^2)``,
    ``t = slope / se``, two-sided p on df = n - 2.

    With ``groups`` (e.g. annotator ids) rating and position are centred within each group
    first (annotator fixed effects: the slope compares positions within the same
    annotator), and ``df = n - G - 1``; ``intercept`` is then the grand-mean intercept.
    Rows with a NaN are dropped. Fewer than 3 rows or a single position -> NaN slope.
    """
    y, x = as_1d(ratings, "ratings"), as_1d(positions, "positions")
    if x.shape != y.shape:
        raise ValueError("ratings and positions must have the same length")
    keep = ~(np.isnan(x) | np.isnan(y))
    g = None
    if groups is not None:
        g = np.asarray(groups, dtype=object).ravel()
        if g.size != x.size:
            raise ValueError("groups must have the same length as ratings")
        keep &= ~pd.isna(g)
        g = g[keep]
    x, y = x[keep], y[keep]
    n = int(x.size)
    frame = pd.DataFrame({"x": x, "y": y})
    by_pos = frame.groupby("x", sort=True)["y"]
    means = {float(k): float(v) for k, v in by_pos.mean().items()}
    counts = {float(k): int(v) for k, v in by_pos.size().items()}
    if g is not None:
        codes = pd.factorize(pd.Series(g))[0]
        n_groups = int(codes.max() + 1) if n else 0
        xs = x - pd.Series(x).groupby(codes).transform("mean").to_numpy()
        ys = y - pd.Series(y).groupby(codes).transform("mean").to_numpy()
        df = float(n - n_groups - 1)
        label = "position effect: within-group OLS slope (group fixed effects), t-test"
    else:
        n_groups = 1 if n else 0
        xs, ys = x - x.mean() if n else x, y - y.mean() if n else y
        df = float(n - 2)
        label = "position effect: OLS slope of rating on position, t-test"
    sxx = float(np.dot(xs, xs))
    if n < 3 or df < 1 or sxx == 0:
        slope = intercept = se = t = p = math.nan
    else:
        slope = float(np.dot(xs, ys)) / sxx
        intercept = float(y.mean() - slope * x.mean())
        resid = ys - slope * xs
        sse = float(np.dot(resid, resid))
        # an exact linear fit leaves only rounding noise (SSE ~ 1e-30 of the ratings' SS),
        # which would print as t = 2e17 with SE 0.000: call it exact (SE 0, t = +/-inf)
        if sse <= _EXACT_FIT * float(np.dot(ys, ys)):
            sse = 0.0
            label += "; exact fit (no residual variation)"
        s2 = sse / df
        se = math.sqrt(s2 / sxx)
        if se == 0:
            t = math.nan if slope == 0 else math.copysign(math.inf, slope)
        else:
            t = slope / se
        p = t_pvalue(t, df, "two-sided")
    return PositionEffectResult(
        means=means,
        counts=counts,
        slope=slope,
        intercept=intercept,
        se=se,
        t=t,
        df=df if n >= 3 else math.nan,
        p=p,
        n=n,
        n_groups=n_groups,
        method=label,
    )


# --------------------------------------------------------------------------------------
# Annotator quality
# --------------------------------------------------------------------------------------


#: The columns of the per-annotator quality table, in order.
ANNOTATOR_QUALITY_COLUMNS = (
    "annotator",
    "n_judgments",
    "median_seconds",
    "straightline_index",
    "longest_run",
    "sd",
    "attention_pass_rate",
    "n_attention",
    "flag_fast",
    "flag_straightline",
    "flag_low_sd",
    "flag_attention",
    "flagged",
    "reasons",
)


@dataclasses.dataclass(frozen=True, eq=False)
class AnnotatorQualityResult(StatResult):
    """Per-annotator quality table (``ANNOTATOR_QUALITY_COLUMNS``) plus the thresholds used."""

    table: pd.DataFrame
    thresholds: dict[str, float | int | None]
    n_flagged: int
    method: str

    @property
    def flagged_annotators(self) -> list[object]:
        return self.table.loc[self.table["flagged"], "annotator"].tolist()


def annotator_quality(
    df: pd.DataFrame,
    annotator_col: str,
    value_cols: str | Sequence[str],
    *,
    time_col: str | None = None,
    order_col: str | None = None,
    attention_col: str | None = None,
    min_median_seconds: float | None = 3.0,
    max_straightline: float | None = 0.8,
    min_sd: float | None = 0.0,
    min_attention_pass: float | None = 0.8,
    min_judgments: int = 5,
) -> AnnotatorQualityResult:
    """Per-annotator quality indicators and flags.

    * ``n_judgments``: rows of the annotator.
    * ``median_seconds``: median of ``time_col`` (seconds spent per item), if given.
    * ``straightline_index``: share of consecutive judgments (in ``order_col`` order, else
      row order) whose values in all ``value_cols`` equal the previous judgment's,
      ``#identical / (n - 1)``; ``longest_run``: longest streak of identical judgments.
    * ``sd``: sample SD (ddof=1) of the ratings, averaged over ``value_cols``.
    * ``attention_pass_rate``: mean of the boolean ``attention_col`` over rows where it is
      not missing (rows that are attention checks), with ``n_attention``.

    Flags (a threshold of None disables its rule): fast if ``median_seconds <
    min_median_seconds``; straight-lining if ``straightline_index > max_straightline``;
    low SD if ``sd <= min_sd`` (default 0: constant raters); attention if
    ``attention_pass_rate < min_attention_pass``. The straight-lining and SD rules need
    at least ``min_judgments`` judgments. ``flagged`` = any flag; ``reasons`` lists them.
    """
    cols = [value_cols] if isinstance(value_cols, str) else list(value_cols)
    if not cols:
        raise ValueError("value_cols must name at least one column")
    work = df.copy()
    if order_col is not None:
        work = work.sort_values([annotator_col, order_col], kind="stable")
    else:
        work = work.assign(_row=np.arange(len(work))).sort_values(
            [annotator_col, "_row"], kind="stable"
        )
    ann = work[annotator_col]
    vals = work[cols]
    prev = vals.groupby(ann, sort=False).shift(1)
    same = (vals.eq(prev) & prev.notna()).all(axis=1) & prev.notna().all(axis=1)
    new_run = ~same
    run_id = new_run.cumsum()
    run_len = same.groupby([ann, run_id], sort=False).transform("size")
    grouped = work.groupby(annotator_col, sort=True)
    table = pd.DataFrame({"n_judgments": grouped.size()})
    n = table["n_judgments"]
    n_same = same.groupby(ann).sum()
    table["straightline_index"] = (n_same / (n - 1)).where(n > 1)
    table["longest_run"] = run_len.groupby(ann).max()
    table["sd"] = vals.groupby(ann).std(ddof=1).mean(axis=1, skipna=False)
    if time_col is not None:
        table["median_seconds"] = grouped[time_col].median()
    else:
        table["median_seconds"] = np.nan
    if attention_col is not None:
        att = work[attention_col]
        present = att.notna()
        att_num = att.where(present).astype(float)
        table["attention_pass_rate"] = att_num.groupby(ann).mean()
        table["n_attention"] = present.groupby(ann).sum().astype(int)
    else:
        table["attention_pass_rate"] = np.nan
        table["n_attention"] = 0
    enough = n >= min_judgments
    table["flag_fast"] = (
        table["median_seconds"] < min_median_seconds if min_median_seconds is not None else False
    )
    table["flag_straightline"] = (
        (table["straightline_index"] > max_straightline) & enough
        if max_straightline is not None
        else False
    )
    table["flag_low_sd"] = (table["sd"] <= min_sd) & enough if min_sd is not None else False
    table["flag_attention"] = (
        table["attention_pass_rate"] < min_attention_pass
        if min_attention_pass is not None
        else False
    )
    flag_cols = ["flag_fast", "flag_straightline", "flag_low_sd", "flag_attention"]
    for c in flag_cols:
        table[c] = table[c].fillna(False).astype(bool)
    table["flagged"] = table[flag_cols].any(axis=1)
    table["reasons"] = table[flag_cols].apply(
        lambda r: ",".join(c.removeprefix("flag_") for c in flag_cols if r[c]), axis=1
    )
    table = table.rename_axis("annotator").reset_index()
    table = table[list(ANNOTATOR_QUALITY_COLUMNS)]
    thresholds = {
        "min_median_seconds": min_median_seconds,
        "max_straightline": max_straightline,
        "min_sd": min_sd,
        "min_attention_pass": min_attention_pass,
        "min_judgments": min_judgments,
    }
    return AnnotatorQualityResult(
        table=table,
        thresholds=thresholds,
        n_flagged=int(table["flagged"].sum()),
        method=(
            "annotator quality: median time per item, straight-lining index "
            "(share of consecutive identical judgments), rating SD, attention checks"
        ),
    )
