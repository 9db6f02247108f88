"""Annotator quality over judgments, and what excluding annotators changes. Pure.

Attention-check judgments count here (among the others, in input order) and in no
statistic. The exclusion effect compares the main estimates with and without the
excluded (or, when nobody is excluded, the flagged) annotators.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis import stats as st
from analysis.formatting import plural
from core.vocabulary import Protocol

from .options import AnalysisOptions
from .readable_tables import flag_explanations

__all__ = ["assess_annotators", "exclusion_rows", "nothing_left_message"]


def assess_annotators(
    frame: pd.DataFrame, protocol: str, dims: list[dict], options: AnalysisOptions
) -> st.AnnotatorQualityResult | None:
    """Per-annotator quality over judgments (one row per judgment, one column per
    dimension), in input order (the database selector yields judgments as recorded)."""
    if frame.empty:
        return None
    keys = ["annotator", "context"] + (
        ["system"] if protocol == Protocol.RATING else ["system_a", "system_b"]
    )
    if "batch" in frame.columns:
        keys.append("batch")
    # pairwise: choices as recorded (always picking the first-shown response is
    # straight-lining even when the canonical orientation alternates)
    value_col = "value" if protocol == Protocol.RATING else "recorded_score"
    dim_keys = [d["key"] for d in dims]
    # groups numbered in order of first appearance (sort=False)
    jid = frame.groupby(keys, sort=False, dropna=False).ngroup().to_numpy()
    n_j = int(jid.max()) + 1
    dcode = frame["_dim"].to_numpy()
    mat = np.full((n_j, len(dim_keys)), np.nan)
    mat[jid, dcode] = frame[value_col].to_numpy(np.float64)
    first = np.full(n_j, -1, dtype=np.int64)
    first[jid[::-1]] = np.arange(len(frame) - 1, -1, -1)  # first row of each judgment
    wide = pd.DataFrame(mat, columns=[f"dim:{k}" for k in dim_keys])
    wide.insert(0, "annotator", frame["annotator"].to_numpy()[first])
    wide["_order"] = np.arange(n_j)
    time_col = None
    if "time_on_item_ms" in frame.columns:
        t = pd.to_numeric(frame["time_on_item_ms"], errors="coerce").to_numpy(np.float64)
        if not np.isnan(t).all():
            wide["_seconds"] = t[first] / 1000.0
            time_col = "_seconds"
    att_col = None
    if "attention_passed" in frame.columns and frame["attention_passed"].notna().any():
        wide["_attention"] = frame["attention_passed"].to_numpy()[first]
        att_col = "_attention"
    value_cols = [c for c in wide.columns if c.startswith("dim:")]
    value_cols = [c for c in value_cols if wide[c].notna().any()]
    if not value_cols:
        return None
    return st.annotator_quality(
        wide,
        "annotator",
        value_cols,
        time_col=time_col,
        order_col="_order",
        attention_col=att_col,
        min_median_seconds=options.min_median_seconds,
        max_straightline=options.max_straightline,
        min_sd=options.min_sd,
        min_attention_pass=options.min_attention_pass,
        min_judgments=options.min_judgments,
    )


def exclusion_rows(
    protocol: str, with_all: dict[str, pd.DataFrame], without: dict[str, pd.DataFrame], n_excl: int
) -> list[dict]:
    rows: list[dict] = []

    def add(dim, sa, sb, quantity, a, b):
        a = float(a) if a is not None else math.nan
        b = float(b) if b is not None else math.nan
        change = b - a
        if abs(change) <= 1e-12 * max(1.0, abs(a), abs(b)):
            change = 0.0  # the same number computed along two paths, not a change
        rows.append(
            {
                "dimension": dim,
                "system_a": sa,
                "system_b": sb,
                "quantity": quantity,
                "with_all": a,
                "without_excluded": b,
                "change": change,
                "n_annotators_excluded": n_excl,
            }
        )

    agree_all = with_all["agreement"].set_index(["dimension", "metric"])["value"]
    agree_wo = without["agreement"].set_index(["dimension", "metric"])["value"]
    dims = list(dict.fromkeys(with_all["summary"]["dimension"]))
    for dim in dims:
        for metric in ("krippendorff_alpha", "fleiss_kappa"):
            if (dim, metric) in agree_all.index:
                add(dim, "", "", metric, agree_all.get((dim, metric)), agree_wo.get((dim, metric)))
        s_all = with_all["summary"].loc[with_all["summary"]["dimension"] == dim]
        s_wo = without["summary"].set_index(["dimension", "system"])
        for _, r in s_all.iterrows():
            other = s_wo["mean"].get((dim, r["system"]), math.nan)
            add(dim, r["system"], "", "mean", r["mean"], other)
        if protocol == Protocol.RATING:
            c_all = with_all["comparisons"]
            c_all = c_all.loc[(c_all["dimension"] == dim) & (c_all["variant"] == "raw")]
            c_wo = without["comparisons"]
            c_wo = c_wo.loc[c_wo["variant"] == "raw"].set_index(
                ["dimension", "system_a", "system_b"]
            )
            quantities = ("mean_diff", "cohens_d_pooled", "p_value", "p_holm")
        else:
            c_all = with_all["winrates"].loc[with_all["winrates"]["dimension"] == dim]
            c_wo = without["winrates"].set_index(["dimension", "system_a", "system_b"])
            quantities = ("share_a", "share_b", "p_sign", "p_sign_holm")
        for _, r in c_all.iterrows():
            key = (dim, r["system_a"], r["system_b"])
            for q in quantities:
                other = c_wo[q].get(key, math.nan) if key in c_wo.index else math.nan
                add(dim, r["system_a"], r["system_b"], q, r[q], other)
    return rows


def nothing_left_message(
    frame: pd.DataFrame,
    quality: st.AnnotatorQualityResult | None,
    flagged: list,
    excluded: set,
    options: AnalysisOptions,
) -> str:
    """Why the exclusions leave no judgment: who was flagged (with the figures behind each
    flag) and who was excluded by name."""
    annotators = sorted(str(a) for a in frame["annotator"].unique())
    named = set(options.exclude_annotators)
    parts = []
    if options.exclude_flagged and flagged and quality is not None:
        table = quality.table.copy()
        table["annotator"] = table["annotator"].astype(str)
        rows = table.set_index("annotator")
        flags = []
        for a in sorted(str(x) for x in flagged):
            why = flag_explanations(rows.loc[a].to_dict(), quality.thresholds)
            flags.append(f"{a} ({'; '.join(why) or 'flagged'})")
        parts.append(
            "flagged by the quality checks and left out by exclude_flagged "
            "(--exclude-flagged): " + ", ".join(flags)
        )
    if named:
        parts.append("excluded by name (exclude_annotators): " + ", ".join(sorted(named)))
    who = (
        f"the only annotator, {annotators[0]}, is"
        if len(annotators) == 1
        else f"all {plural(len(annotators), 'annotator')} are"
    )
    advice = (
        " Analyse without --exclude-flagged, or change the quality thresholds."
        if options.exclude_flagged and flagged
        else ""
    )
    return f"nothing left to analyse: {who} excluded. " + "; ".join(parts) + "." + advice
