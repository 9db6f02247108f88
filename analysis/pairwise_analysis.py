"""Pairwise (A / B / tie) studies: win rates, summaries, agreement, Bradley–Terry
strengths and side / length diagnostics. Pure.

Judgments arrive oriented to the canonical pair order (``canonical_frame``) and are
counted at the judgment level, as in published win / tie / loss tables.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis import stats as st
from analysis.formatting import comma_list
from core.vocabulary import Choice

from .agreement_long import kappa_rows, krippendorff_alpha_long
from .canonical_frame import CHOICES
from .corrections import correct_p_values
from .options import AnalysisOptions
from .resampling import TAG_BT, TAG_PREF_PERM, rng_for
from .result import table_frame

# the choices as judgments store them (plain strings, as the stats functions take them)
A, B, TIE = Choice.A.value, Choice.B.value, Choice.TIE.value
# a choice in words: by system (the pair in canonical order) and as the annotator saw it
BY_SYSTEM_WORDS = {A: "system_a better", B: "system_b better", TIE: "tie"}
AS_SHOWN_WORDS = {A: "first shown (left)", B: "second shown (right)", TIE: "tie"}

__all__ = [
    "pairwise_agreement",
    "pairwise_bradley_terry",
    "pairwise_diagnostics",
    "pairwise_summary",
    "pairwise_winrates",
]


def pairwise_winrates(
    frame: pd.DataFrame,
    dims: list[dict],
    systems: list[str],
    options: AnalysisOptions,
    *,
    resample: bool,
) -> tuple[pd.DataFrame, list[str]]:
    rows = []
    vectors = []
    rank = {s: i for i, s in enumerate(systems)}
    grouped = frame.groupby(["dimension", "system_a", "system_b"], sort=False)["choice"]
    counts = (
        grouped.value_counts().unstack(fill_value=0).reindex(columns=list(CHOICES), fill_value=0)
    )
    scores = frame.groupby(["dimension", "system_a", "system_b"], sort=False)["score"]
    score_map = {k: v.to_numpy() for k, v in scores}
    dim_order = {d["key"]: i for i, d in enumerate(dims)}
    keys = sorted(counts.index, key=lambda k: (dim_order[k[0]], rank[k[1]], rank[k[2]]))
    for dim, sa, sb in keys:
        wa, wb, wt = (int(counts.loc[(dim, sa, sb), c]) for c in (A, B, TIE))
        wtl = st.win_tie_loss([A] * wa + [TIE] * wt + [B] * wb)
        sign = st.sign_test_counts(
            wa, wb, wt, alternative=options.alternative, confidence=options.confidence
        )
        rows.append(
            {
                "dimension": dim,
                "system_a": sa,
                "system_b": sb,
                "wins_a": wa,
                "ties": wt,
                "wins_b": wb,
                "share_a": wtl.share_a,
                "share_tie": wtl.share_tie,
                "share_b": wtl.share_b,
                "p_sign": sign.p,
                "p_permutation": math.nan,
                "n": wtl.n,
                # A's share among decisive judgments with both binomial intervals
                "share_a_decisive": sign.share_a,
                "cp_low": sign.ci_low,
                "cp_high": sign.ci_high,
                "wilson_low": sign.wilson_low,
                "wilson_high": sign.wilson_high,
            }
        )
        vectors.append(score_map[(dim, sa, sb)])
    labels: list[str] = []
    if resample and vectors:
        width = max(v.size for v in vectors)
        mat = np.full((len(vectors), width), np.nan)
        for i, v in enumerate(vectors):
            mat[i, : v.size] = v
        perms = st.preference_permutation_tests(
            mat,
            alternative=options.alternative,
            n_resamples=options.n_permutations,
            two_sided=options.permutation_two_sided,
            seed=rng_for(options, TAG_PREF_PERM),
        )
        for row, res in zip(rows, perms, strict=True):
            row["p_permutation"] = res.p
            labels.append(res.method)
    table = table_frame("winrates", rows)
    correct_p_values(table, "p_sign", "p_sign_holm", "p_sign_bonferroni", options, [])
    return table, sorted(set(labels))


def pairwise_summary(
    frame: pd.DataFrame, dims: list[dict], systems: list[str], confidence: float
) -> pd.DataFrame:
    """Per system x dimension: expected score over all its comparisons (win 1, tie 0.5,
    loss 0), its SD and t-based CI; n_items = distinct (context, pair) items."""
    rows = []
    for dim in dims:
        sub = frame.loc[frame["dimension"] == dim["key"]]
        for system in systems:
            as_a = sub.loc[sub["system_a"] == system]
            as_b = sub.loc[sub["system_b"] == system]
            score = np.r_[(as_a["score"].to_numpy() + 1) / 2, (1 - as_b["score"].to_numpy()) / 2]
            items = pd.concat([as_a, as_b])[["context", "system_a", "system_b"]].drop_duplicates()
            ci = st.mean_ci(score, confidence=confidence) if score.size else None
            rows.append(
                {
                    "dimension": dim["key"],
                    "system": system,
                    "n_judgments": int(score.size),
                    "n_items": int(len(items)),
                    "mean": ci.mean if ci else math.nan,
                    "sd": ci.sd if ci else math.nan,
                    "ci_low": ci.ci_low if ci else math.nan,
                    "ci_high": ci.ci_high if ci else math.nan,
                    "mean_z": math.nan,
                }
            )
    return table_frame("summary", rows)


def pairwise_agreement(frame: pd.DataFrame, dims: list[dict]) -> pd.DataFrame:
    rows = []
    for dim in dims:
        sub = frame.loc[frame["dimension"] == dim["key"]]
        unit = (sub["context"] + "\x1f" + sub["system_a"] + "\x1f" + sub["system_b"]).to_numpy()
        ka = krippendorff_alpha_long(unit, sub["score"].to_numpy(np.float64), "nominal")
        annot = sub["annotator"].to_numpy()
        if unit.size:
            _, inv = np.unique(unit, return_inverse=True)
            pairable = np.bincount(inv)[inv] >= 2
            n_raters = int(pd.unique(annot[pairable]).size)
        else:
            n_raters = 0
        rows.append(
            {
                "dimension": dim["key"],
                "metric": "krippendorff_alpha",
                "value": ka.alpha,
                "n_items": ka.n_units,
                "n_raters": n_raters,
                "level": "nominal",
                "ci_low": math.nan,
                "ci_high": math.nan,
                "note": "by system: categories " + comma_list(BY_SYSTEM_WORDS[c] for c in CHOICES),
            }
        )
        # what the annotator clicked, and the same judgments by system (pairs oriented)
        for col, suffix, what, names in (
            ("choice", "", "by system: ", BY_SYSTEM_WORDS),
            ("recorded_choice", "_as_shown", "as shown: ", AS_SHOWN_WORDS),
        ):
            rows.extend(
                kappa_rows(
                    dim["key"],
                    unit,
                    sub[col].to_numpy(),
                    list(CHOICES),
                    names=[names[c] for c in CHOICES],
                    suffix=suffix,
                    what=what,
                )
            )
    return table_frame("agreement", rows)


def pairwise_bradley_terry(
    frame: pd.DataFrame, dims: list[dict], systems: list[str], options: AnalysisOptions
) -> tuple[pd.DataFrame, list[str]]:
    rows, notes = [], []
    for dim in dims:
        sub = frame.loc[frame["dimension"] == dim["key"]]
        a, b, c = sub["system_a"].to_numpy(), sub["system_b"].to_numpy(), sub["choice"].to_numpy()
        wins = [(x, y) for x, y, ch in zip(a, b, c, strict=True) if ch == A]
        wins += [(y, x) for x, y, ch in zip(a, b, c, strict=True) if ch == B]
        ties = [(x, y) for x, y, ch in zip(a, b, c, strict=True) if ch == TIE]
        involved = [s for s in systems if s in set(a) | set(b)]
        if len(involved) < 3:
            notes.append(f"{dim['key']}: fewer than 3 systems compared")
            continue
        reference = options.bt_reference
        if reference is not None and reference not in involved:
            notes.append(f"{dim['key']}: reference system {reference} not compared")
            continue
        try:
            res = st.bradley_terry(
                wins,
                ties=ties,
                systems=involved,
                reference=reference,
                n_resamples=options.n_bootstrap,
                confidence=options.confidence,
                seed=rng_for(options, TAG_BT),
            )
        except ValueError as exc:
            notes.append(f"{dim['key']}: {exc}")
            continue
        table = res.to_frame()
        for _, r in table.iterrows():
            rows.append(
                {
                    "dimension": dim["key"],
                    "system": r["system"],
                    "strength": r["strength"],
                    "log_strength": r["log_strength"],
                    "ci_low": r["ci_low"],
                    "ci_high": r["ci_high"],
                    "wins": r["wins"],
                    "n_comparisons": res.n_comparisons,
                    "se": r["se"],
                    "elo": 1000.0 + options.elo_scale * r["log_strength"] / math.log(10.0),
                    "deviance": res.deviance,
                    "df_residual": res.df_residual,
                }
            )
        if res.n_degenerate:
            notes.append(
                f"{dim['key']}: {res.n_degenerate} of {res.n_resamples} bootstrap resamples had "
                "no finite estimate and were left out of the intervals"
            )
    return table_frame("bradley_terry", rows), notes


def pairwise_diagnostics(frame: pd.DataFrame, dims: list[dict]) -> tuple[list[dict], list[dict]]:
    pos_rows, len_rows = [], []
    for dim in dims:
        sub = frame.loc[frame["dimension"] == dim["key"]]
        recorded = sub["recorded_choice"]
        first, second = int((recorded == A).sum()), int((recorded == B).sum())
        ties = int((recorded == TIE).sum())
        sign = st.sign_test_counts(first, second, ties)
        pos_rows.append(
            {
                "dimension": dim["key"],
                "factor": "side",
                "estimate": sign.share_a,
                "se": math.nan,
                "statistic": math.nan,
                "df": math.nan,
                "p_value": sign.p,
                "n": sign.n,
                "n_groups": math.nan,
                "description": "share of non-tied choices for the response recorded as A "
                "(shown first / left); exact two-sided binomial test against 0.5",
            }
        )
        if "response_length_a" in sub.columns and "response_length_b" in sub.columns:
            la = pd.to_numeric(sub["response_length_a"], errors="coerce").to_numpy(np.float64)
            lb = pd.to_numeric(sub["response_length_b"], errors="coerce").to_numpy(np.float64)
            res = st.length_bias(sub["score"].to_numpy(np.float64), la - lb)
            len_rows.append(
                {
                    "dimension": dim["key"],
                    "system": "all",
                    "n": res.n,
                    "pearson_r": res.pearson_r,
                    "pearson_p": res.pearson_p,
                    "spearman_rho": res.spearman_rho,
                    "spearman_p": res.spearman_p,
                }
            )
    return pos_rows, len_rows
