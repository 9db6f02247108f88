"""Rating studies: item means, summaries, comparisons, agreement, length bias and position
effects. Pure.

The unit of analysis is the item (context x system): each item's ratings are averaged
first (:class:`_ItemArrays`, dimensions x systems x contexts), and summaries, t-tests,
effect sizes, permutation tests and bootstrap intervals work on item means. A pair of
systems is compared with a paired t-test on the contexts both were rated on when they
share at least ``paired_min_overlap`` of the contexts of either system, otherwise with
Welch's t-test on all item means of each system.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from analysis import stats as st
from core.vocabulary import DimensionType

from .agreement_long import kappa_rows, krippendorff_alpha_long
from .canonical_frame import CATEGORICAL_TYPES
from .corrections import correct_p_values
from .options import AnalysisOptions
from .resampling import (
    TAG_BOOT_PAIRED,
    TAG_BOOT_TWO,
    TAG_PAIRED_PERM,
    TAG_SPLIT_PERM,
    percentile_ci,
    rng_for,
    shared_bootstrap_means,
)
from .result import table_frame

__all__ = ["position_rows", "rating_core", "rating_length_bias"]


@dataclasses.dataclass
class _ItemArrays:
    dims: list[str]
    systems: list[str]
    contexts: np.ndarray
    mean: np.ndarray  # (D, S, C) item means, NaN where the item has no rating
    mean_z: np.ndarray
    count: np.ndarray  # (D, S, C) ratings per item
    length: np.ndarray | None  # (S, C) mean response length per item


def _sorted_codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(sorted uniques, codes) -- hash-based factorize, then codes renumbered in sort order."""
    codes, uniques = pd.factorize(values, sort=False)
    uniques = np.asarray(uniques, dtype=object)
    order = np.argsort(uniques.astype(str), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return uniques[order], rank[codes].astype(np.int64)


def _item_arrays(frame: pd.DataFrame, dims: list[dict], systems: list[str]) -> _ItemArrays:
    dim_keys = [d["key"] for d in dims]
    contexts, c_codes = _sorted_codes(frame["context"])
    d_codes = frame["_dim"].to_numpy().astype(np.int64)
    s_codes = pd.Categorical(frame["system"], categories=systems).codes.astype(np.int64)
    n_d, n_s, n_c = len(dim_keys), len(systems), contexts.size
    flat = (d_codes * n_s + s_codes) * n_c + c_codes
    size = n_d * n_s * n_c
    count = np.bincount(flat, minlength=size).astype(np.float64)
    total = np.bincount(flat, weights=frame["value"].to_numpy(np.float64), minlength=size)
    z = frame["value_z"].to_numpy(np.float64)
    zok = ~np.isnan(z)
    zcount = np.bincount(flat[zok], minlength=size).astype(np.float64)
    ztotal = np.bincount(flat[zok], weights=z[zok], minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 0, total / count, np.nan)
        mean_z = np.where(zcount > 0, ztotal / zcount, np.nan)
    shape = (n_d, n_s, n_c)
    length = None
    if "response_length" in frame.columns:
        lens = pd.to_numeric(frame["response_length"], errors="coerce").to_numpy(np.float64)
        ok = ~np.isnan(lens)
        if ok.any():
            sc = s_codes[ok] * n_c + c_codes[ok]
            lc = np.bincount(sc, minlength=n_s * n_c)
            lt = np.bincount(sc, weights=lens[ok], minlength=n_s * n_c)
            with np.errstate(divide="ignore", invalid="ignore"):
                length = np.where(lc > 0, lt / lc, np.nan).reshape(n_s, n_c)
    return _ItemArrays(
        dim_keys,
        systems,
        contexts,
        mean.reshape(shape),
        mean_z.reshape(shape),
        count.reshape(shape),
        length,
    )


def _rating_summary(items: _ItemArrays, confidence: float) -> pd.DataFrame:
    rows = []
    for d, dim in enumerate(items.dims):
        for s, system in enumerate(items.systems):
            x = items.mean[d, s]
            x = x[~np.isnan(x)]
            ci = st.mean_ci(x, confidence=confidence) if x.size else None
            zx = items.mean_z[d, s]
            zx = zx[~np.isnan(zx)]
            rows.append(
                {
                    "dimension": dim,
                    "system": system,
                    "n_judgments": int(items.count[d, s].sum()),
                    "n_items": int(x.size),
                    "mean": ci.mean if ci else math.nan,
                    "sd": ci.sd if ci else math.nan,
                    "ci_low": ci.ci_low if ci else math.nan,
                    "ci_high": ci.ci_high if ci else math.nan,
                    "mean_z": float(zx.mean()) if zx.size else math.nan,
                }
            )
    return table_frame("summary", rows)


# comparisons waiting for their resampling, by sample size: (row index, paired differences)
PairedGroups = dict[int, list[tuple[int, np.ndarray]]]
# ... and by (n_a, n_b): (row index, item means of system_a, of system_b)
SplitGroups = dict[tuple[int, int], list[tuple[int, np.ndarray, np.ndarray]]]


def _rating_comparisons(
    items: _ItemArrays, options: AnalysisOptions, *, resample: bool
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """All pairwise comparisons per dimension and variant; resampling shared by size."""
    rows: list[dict] = []
    paired_groups: PairedGroups = {}
    split_groups: SplitGroups = {}
    n_sys = len(items.systems)
    for variant, arr in (("raw", items.mean), ("z", items.mean_z)):
        for d, dim in enumerate(items.dims):
            for i in range(n_sys):
                for j in range(i + 1, n_sys):
                    row = {
                        "dimension": dim,
                        "system_a": items.systems[i],
                        "system_b": items.systems[j],
                        "alternative": options.alternative,
                        "variant": variant,
                    }
                    row.update(
                        _t_test_row(
                            arr[d, i], arr[d, j], options, len(rows), paired_groups, split_groups
                        )
                    )
                    rows.append(row)
    perm_labels: set[str] = set()
    if resample:
        perm_labels |= _resample_paired(rows, paired_groups, options)
        perm_labels |= _resample_split(rows, split_groups, options)
    frame = table_frame("comparisons", rows)
    correct_p_values(frame, "p_value", "p_holm", "p_bonferroni", options, ["variant"])
    meta = {
        "designs": sorted(set(frame["design"])) if len(frame) else [],
        "permutation_labels": sorted(perm_labels),
        "paired_sizes": sorted(paired_groups),
        "split_sizes": sorted(split_groups),
    }
    return frame, meta


def _t_test_row(
    xa_all: np.ndarray,
    xb_all: np.ndarray,
    options: AnalysisOptions,
    key: int,
    paired_groups: PairedGroups,
    split_groups: SplitGroups,
) -> dict[str, Any]:
    """One comparison's design, t-test and effect sizes (item means of system_a and
    system_b over all contexts, NaN where unrated); the comparison joins its resampling
    group under ``key``, its row index."""
    alt = options.alternative
    has_a, has_b = ~np.isnan(xa_all), ~np.isnan(xb_all)
    shared = has_a & has_b
    n_shared, na_all, nb_all = int(shared.sum()), int(has_a.sum()), int(has_b.sum())
    paired = n_shared >= 2 and n_shared >= options.paired_min_overlap * max(na_all, nb_all)
    row: dict[str, Any] = {}
    if paired:
        xa, xb = xa_all[shared], xb_all[shared]
        tt = st.paired_t_test(xa, xb, alternative=alt, confidence=options.confidence)
        dz = st.cohens_dz(xa, xb).value
        row.update(
            design="paired",
            n=tt.n,
            n_a=tt.n,
            n_b=tt.n,
            cohens_d_av=st.cohens_d_av(xa, xb).value,
            cohens_d_rm=st.cohens_d_rm(xa, xb).value,
        )
        if tt.n >= 2:
            paired_groups.setdefault(tt.n, []).append((key, xa - xb))
    else:
        xa, xb = xa_all[has_a], xb_all[has_b]
        tt = st.welch_t_test(xa, xb, alternative=alt, confidence=options.confidence)
        dz = math.nan
        row.update(
            design="welch",
            n=tt.n,
            n_a=tt.n_a,
            n_b=tt.n_b,
            cohens_d_av=math.nan,
            cohens_d_rm=math.nan,
        )
        if tt.n_a >= 2 and tt.n_b >= 2:
            split_groups.setdefault((tt.n_a, tt.n_b), []).append((key, xa, xb))
    row.update(
        mean_a=tt.mean_a,
        mean_b=tt.mean_b,
        mean_diff=tt.mean_diff,
        t=tt.t,
        df=tt.df,
        p_value=tt.p,
        p_permutation=math.nan,
        cohens_d_pooled=st.cohens_d_pooled(xa, xb).value,
        cohens_dz=dz,
        hedges_g=st.hedges_g(xa, xb, paired=False).value,
        ci_low=math.nan,
        ci_high=math.nan,
    )
    return row


def _resample_paired(rows: list[dict], groups: PairedGroups, options: AnalysisOptions) -> set[str]:
    """Sign-flip permutation tests and bootstrap intervals of the paired comparisons, one
    resample matrix per sample size; returns the permutation methods used."""
    labels = set()
    for n, group in sorted(groups.items()):
        keys = [k for k, _ in group]
        diffs = np.vstack([d for _, d in group])
        perms = st.paired_permutation_tests(
            diffs,
            alternative=options.alternative,
            n_resamples=options.n_permutations,
            two_sided=options.permutation_two_sided,
            seed=rng_for(options, TAG_PAIRED_PERM, n),
        )
        boot = shared_bootstrap_means(
            diffs, options.n_bootstrap, rng_for(options, TAG_BOOT_PAIRED, n)
        )
        lo, hi = percentile_ci(boot, options.confidence)
        for idx, key in enumerate(keys):
            rows[key].update(p_permutation=perms[idx].p, ci_low=lo[idx], ci_high=hi[idx])
            labels.add(perms[idx].method)
    return labels


def _resample_split(rows: list[dict], groups: SplitGroups, options: AnalysisOptions) -> set[str]:
    """Label-permutation tests and bootstrap intervals of the Welch comparisons, one
    resample matrix per (n_a, n_b); returns the permutation methods used."""
    labels = set()
    for (na, nb), group in sorted(groups.items()):
        keys = [k for k, _, _ in group]
        a = np.vstack([x for _, x, _ in group])
        b = np.vstack([y for _, _, y in group])
        perms = st.two_sample_permutation_tests(
            a,
            b,
            alternative=options.alternative,
            n_resamples=options.n_permutations,
            two_sided=options.permutation_two_sided,
            seed=rng_for(options, TAG_SPLIT_PERM, na, nb),
        )
        boot_rng = rng_for(options, TAG_BOOT_TWO, na, nb)
        boot = shared_bootstrap_means(a, options.n_bootstrap, boot_rng)
        boot -= shared_bootstrap_means(b, options.n_bootstrap, boot_rng)
        lo, hi = percentile_ci(boot, options.confidence)
        for idx, key in enumerate(keys):
            rows[key].update(p_permutation=perms[idx].p, ci_low=lo[idx], ci_high=hi[idx])
            labels.add(perms[idx].method)
    return labels


def _icc_rows(
    dim: str, unit: np.ndarray, annot: np.ndarray, vals: np.ndarray, confidence: float
) -> list[dict]:
    """ICC per dimension, absolute agreement: two-way random ICC(2,1)/ICC(2,k) from the
    ANOVA when every annotator rated every item (fully crossed); from variance components
    when cells are missing but the design separates items, raters and residual; else
    (raters nested in items) one-way ICC(1,1)/ICC(1,k) on rating slots."""
    frame = pd.DataFrame({"unit": unit, "annotator": annot, "value": vals})
    frame = frame.groupby(["unit", "annotator"], sort=True, as_index=False)["value"].mean()
    n_units = frame["unit"].nunique()
    n_ann = frame["annotator"].nunique()
    crossed = n_ann >= 2 and n_units >= 2 and len(frame) == n_units * n_ann
    if not crossed:
        try:
            vc = st.icc_variance_components(
                frame["unit"], frame["annotator"], frame["value"], confidence=confidence
            )
        except ValueError:
            vc = None
        if vc is not None:
            return _variance_component_rows(dim, vc, n_units * n_ann)
    if crossed:
        mat = st.ratings_matrix_from_long(frame, "unit", "annotator", "value").to_numpy()
        forms = ("ICC(2,1)", "ICC(2,k)")
        note = "fully crossed: two-way random effects, absolute agreement (ANOVA)"
    else:
        mat = st.slot_matrix_from_long(frame, "unit", "value").to_numpy()
        forms = ("ICC(1,1)", "ICC(1,k)")
        note = (
            "raters nested in items (no rater's effect separable): one-way random effects "
            f"on the first {mat.shape[1]} ratings of each item"
        )
    if mat.shape[0] < 2 or mat.shape[1] < 2:
        return [
            _agreement_row(
                dim,
                form,
                math.nan,
                int(mat.shape[0]),
                int(mat.shape[1]) if mat.ndim == 2 else 0,
                "needs at least 2 items with 2 ratings each",
            )
            for form in forms
        ]
    res = st.icc_all(mat, confidence=confidence)
    rows = []
    for form in forms:
        r = res[form]
        why = "no variation in the ratings: ICC undefined" if math.isnan(r.value) else note
        rows.append(
            _agreement_row(dim, form, r.value, r.n_items, r.n_raters, why, r.ci_low, r.ci_high)
        )
    return rows


def _variance_component_rows(
    dim: str, vc: st.VarianceComponentsICCResult, n_cells: int
) -> list[dict]:
    note = (
        f"{vc.n_ratings} of {n_cells} item x rater cells rated: two-way random effects, "
        "absolute agreement, from variance components (moment estimator for missing "
        "cells); approximate F-based interval (McGraw–Wong, Satterthwaite df)"
    )
    if math.isnan(vc.icc_single):
        note = "no variation in the ratings: ICC undefined"
    return [
        _agreement_row(
            dim, "ICC(2,1)", vc.icc_single, vc.n_items, vc.n_raters, note, vc.ci_low, vc.ci_high
        ),
        _agreement_row(
            dim,
            "ICC(2,k)",
            vc.icc_average,
            vc.n_items,
            vc.n_raters,
            note
            if math.isnan(vc.icc_single)
            else f"{note}; k = {vc.k:.2f} (harmonic mean of ratings per item)",
            vc.ci_average_low,
            vc.ci_average_high,
        ),
    ]


def _agreement_row(
    dim: str,
    metric: str,
    value: float,
    n_items: int,
    n_raters: int,
    note: str,
    ci_low: float = math.nan,
    ci_high: float = math.nan,
    level: str = "interval",
) -> dict[str, Any]:
    return {
        "dimension": dim,
        "metric": metric,
        "value": value,
        "n_items": n_items,
        "n_raters": n_raters,
        "level": level,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "note": note,
    }


def _rating_agreement(frame: pd.DataFrame, dims: list[dict], confidence: float) -> pd.DataFrame:
    rows: list[dict] = []
    dim_codes = frame["_dim"].to_numpy()
    for code, dim in enumerate(dims):
        key, kind, level = dim["key"], dim["type"], dim["level"]
        sub = frame.loc[dim_codes == code]
        sc = pd.factorize(sub["system"])[0].astype(np.int64)
        cc = pd.factorize(sub["context"])[0].astype(np.int64)
        unit = sc * (int(cc.max()) + 1 if cc.size else 1) + cc
        vals = sub["value"].to_numpy(np.float64)
        annot = sub["annotator"].to_numpy()
        ka = krippendorff_alpha_long(unit, vals, level)
        _, inv = np.unique(unit, return_inverse=True)
        m = np.bincount(inv) if unit.size else np.array([], dtype=int)
        pairable = m[inv] >= 2 if unit.size else np.array([], dtype=bool)
        rows.append(
            {
                "dimension": key,
                "metric": "krippendorff_alpha",
                "value": ka.alpha,
                "n_items": ka.n_units,
                "n_raters": int(pd.unique(annot[pairable]).size),
                "level": level,
                "ci_low": math.nan,
                "ci_high": math.nan,
                "note": _alpha_note(ka),
            }
        )
        # ICC treats ratings as interval data: sliders and Likert scales, never a checkbox
        if unit.size and kind != DimensionType.CHECKBOX:
            rows.extend(_icc_rows(key, unit, annot, vals, confidence))
        if kind in CATEGORICAL_TYPES:
            cats, k_words = _categories(vals, dim)
            rows.extend(
                kappa_rows(
                    key,
                    unit,
                    vals,
                    cats,
                    names=[_category_name(c, kind) for c in cats],
                    k_words=k_words,
                )
            )
    return table_frame("agreement", rows)


def _alpha_note(ka: st.KrippendorffAlphaResult) -> str:
    """Why Krippendorff's alpha is missing ("" when it is not)."""
    if not math.isnan(ka.alpha):
        return ""
    if ka.n_units == 0:
        return "needs an item with at least 2 ratings"
    return "every rating is the same: expected disagreement is 0, alpha undefined"


def _categories(vals: np.ndarray, dim: dict) -> tuple[list[float], str]:
    """The categories a rater could choose (checkbox: No, Yes; Likert: 1..points when the
    dimension says how many) or else the ones observed, and words for the K they give."""
    seen = sorted(pd.unique(vals).tolist())
    if dim["type"] == DimensionType.CHECKBOX and set(seen) <= {0.0, 1.0}:
        return [0.0, 1.0], " (No, Yes)"
    points = dim.get("points")
    if points and set(seen) <= set(range(1, int(points) + 1)):
        return [float(v) for v in range(1, int(points) + 1)], " scale points"
    return seen, " categories observed"


def _category_name(value: float, kind: str) -> str:
    if kind == DimensionType.CHECKBOX:
        return "Yes" if value else "No"
    return _num(value)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def rating_length_bias(items: _ItemArrays) -> pd.DataFrame:
    if items.length is None:
        return table_frame("length_bias")
    rows = []
    for d, dim in enumerate(items.dims):
        scopes = [("all", slice(None))] + [(s, i) for i, s in enumerate(items.systems)]
        for name, sel in scopes:
            y = items.mean[d, sel].ravel()
            x = items.length[sel].ravel()
            res = st.length_bias(y, x)
            rows.append(
                {
                    "dimension": dim,
                    "system": name,
                    "n": res.n,
                    "pearson_r": res.pearson_r,
                    "pearson_p": res.pearson_p,
                    "spearman_rho": res.spearman_rho,
                    "spearman_p": res.spearman_p,
                }
            )
    return table_frame("length_bias", rows)


def position_rows(frame: pd.DataFrame, dims: list[dict], value_col: str) -> list[dict]:
    rows = []
    for factor, col, what in (
        ("position", "position", "rating change per position step inside a batch"),
        ("block", "block", "rating change per block step (block order) inside a batch"),
    ):
        if col not in frame.columns:
            continue
        pos = pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64)
        if pd.Series(pos).nunique() < 2:
            continue
        dim_codes = frame["_dim"].to_numpy()
        values = frame[value_col].to_numpy(np.float64)
        annotators = frame["annotator"].to_numpy()
        for code, dim in enumerate(dims):
            sel = dim_codes == code
            res = st.position_effect(values[sel], pos[sel], groups=annotators[sel])
            rows.append(
                {
                    "dimension": dim["key"],
                    "factor": factor,
                    "estimate": res.slope,
                    "se": res.se,
                    "statistic": res.t,
                    "df": res.df,
                    "p_value": res.p,
                    "n": res.n,
                    "n_groups": res.n_groups,
                    "description": f"{what}; within-annotator OLS slope, t-test",
                }
            )
    return rows


def rating_core(
    frame: pd.DataFrame,
    dims: list[dict],
    systems: list[str],
    options: AnalysisOptions,
    *,
    resample: bool,
) -> dict[str, Any]:
    items = _item_arrays(frame, dims, systems)
    comparisons, meta = _rating_comparisons(items, options, resample=resample)
    return {
        "items": items,
        "summary": _rating_summary(items, options.confidence),
        "comparisons": comparisons,
        "agreement": _rating_agreement(frame, dims, options.confidence),
        "meta": meta,
    }
