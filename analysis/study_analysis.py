"""Study-level analysis: one call turns a study's judgments into paper-ready tables.

``analyze(judgments, protocol=..., dimensions=..., options=...)`` takes the canonical long
DataFrame (see ``analysis/README.md``) and returns an :class:`AnalysisResult` of tidy
DataFrames with fixed columns (``TABLE_COLUMNS``) plus ``methods``: plain-English sentences
naming every test, variant, correction, resample count and seed that was used.

Pure: numpy / pandas / scipy and :mod:`analysis.stats`, no Django. Resampling is shared and
vectorised: all comparisons of one sample size use one sign / split matrix for the
permutation tests (:func:`analysis.stats.paired_permutation_tests` and
:func:`analysis.stats.two_sample_permutation_tests`) and one bootstrap count matrix (a
matrix product, :func:`shared_bootstrap_means`), drawn in memory-bounded chunks.

Design decisions (each is also stated in ``methods``):

* Ratings: the unit of analysis is the item (context x system). Each item's ratings are
  averaged first; summaries, t-tests, effect sizes, permutation tests and bootstrap
  intervals work on item means.
* A pair of systems is compared with a paired t-test on the contexts both were rated on
  when they share at least ``paired_min_overlap`` of the contexts of either system
  (default 0.8; identical context sets always pair), otherwise with Welch's t-test on all
  item means of each system.
* Raw ratings and per-annotator z-scores (per dimension, population SD) are analysed side
  by side (``variant`` = ``raw`` / ``z``); each variant is its own correction family.
* Pairwise studies: judgments are oriented to a canonical pair order (systems in the
  order given, else sorted) and counted at the judgment level, as in published win / tie /
  loss tables.
* Attention checks: rows with a non-missing ``attention_passed`` are judgments of
  attention-check items. They are kept out of every statistic (summaries, tests, agreement,
  win rates, z-scores, diagnostics) and used only for annotator quality, where they count
  like any judgment and give each annotator's attention pass rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis import stats as st
from analysis.formatting import plural
from analysis.stats._base import CHUNK_BYTES

__all__ = [
    "AnalysisOptions",
    "AnalysisResult",
    "TABLE_COLUMNS",
    "TABLE_NAMES",
    "LEVELS",
    "analyze",
    "krippendorff_alpha_long",
    "shared_bootstrap_means",
]

RATING_REQUIRED = ("annotator", "context", "system", "dimension", "value")
PAIRWISE_REQUIRED = ("annotator", "context", "system_a", "system_b", "dimension", "choice")
OPTIONAL_COLUMNS = (
    "position",
    "block",
    "batch",
    "time_on_item_ms",
    "response_length",
    "response_length_a",
    "response_length_b",
    "assignment_status",
    "attention_passed",
)
#: Krippendorff's alpha level of measurement per dimension type.
LEVELS = {"slider": "interval", "likert": "ordinal", "checkbox": "nominal", "choice": "nominal"}
CATEGORICAL_TYPES = ("checkbox", "likert", "choice")
CHOICES = ("a", "b", "tie")

TABLE_COLUMNS: dict[str, list[str]] = {
    "summary": [
        "dimension", "system", "n_judgments", "n_items", "mean", "sd", "ci_low", "ci_high",
        "mean_z",
    ],
    "comparisons": [
        "dimension", "system_a", "system_b", "design", "alternative", "n", "mean_a", "mean_b",
        "t", "df", "p_value", "p_holm", "p_bonferroni", "p_permutation", "cohens_d_pooled",
        "cohens_dz", "hedges_g", "ci_low", "ci_high",
        # extra columns (after the fixed ones)
        "variant", "n_a", "n_b", "mean_diff",
    ],
    "agreement": [
        "dimension", "metric", "value", "n_items", "n_raters", "level",
        "ci_low", "ci_high", "note",
    ],
    "winrates": [
        "dimension", "system_a", "system_b", "wins_a", "ties", "wins_b", "share_a",
        "share_tie", "share_b", "p_sign", "p_permutation",
        "n", "p_sign_holm", "p_sign_bonferroni",
    ],
    "bradley_terry": [
        "dimension", "system", "strength", "log_strength", "ci_low", "ci_high",
        "wins", "n_comparisons",
    ],
    "length_bias": [
        "dimension", "system", "n", "pearson_r", "pearson_p", "spearman_rho", "spearman_p",
    ],
    "position_effects": [
        "dimension", "factor", "estimate", "se", "statistic", "df", "p_value", "n", "n_groups",
        "description",
    ],
    "annotator_quality": [
        "annotator", "n_judgments", "median_seconds", "straightline_index", "longest_run", "sd",
        "attention_pass_rate", "n_attention", "flag_fast", "flag_straightline", "flag_low_sd",
        "flag_attention", "flagged", "reasons", "excluded",
    ],
    "exclusion_effect": [
        "dimension", "system_a", "system_b", "quantity", "with_all", "without_excluded",
        "change", "n_annotators_excluded",
    ],
}
TABLE_NAMES = tuple(TABLE_COLUMNS)
_SIDE = {"two-sided": "two-sided", "greater": "one-sided (greater)", "less": "one-sided (less)"}
# stream tags for the per-size random generators (fixed so results never depend on order)
_TAG_PAIRED_PERM, _TAG_SPLIT_PERM, _TAG_BOOT_PAIRED, _TAG_BOOT_TWO = 11, 12, 21, 22
_TAG_PREF_PERM, _TAG_BT = 31, 41


# --------------------------------------------------------------------------------------
# Options and result
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AnalysisOptions:
    """What to compute and how. Every choice ends up in ``AnalysisResult.methods``.

    ``systems`` both selects systems and fixes their order (system_a of a comparison comes
    before system_b; one-sided alternatives test system_a against system_b). Quality
    thresholds are those of :func:`analysis.stats.annotator_quality` (None disables a rule).
    """

    alternative: str = "two-sided"
    family: str = "per_dimension"
    n_permutations: int = 10_000
    n_bootstrap: int = 2_000
    seed: int = 0
    confidence: float = 0.95
    alpha: float = 0.05
    systems: tuple[str, ...] | None = None
    dimensions: tuple[str, ...] | None = None
    exclude_annotators: tuple[str, ...] = ()
    exclude_flagged: bool = False
    include_partial: bool = False
    paired_min_overlap: float = 0.8
    min_median_seconds: float | None = 3.0
    max_straightline: float | None = 0.8
    min_sd: float | None = 0.0
    min_attention_pass: float | None = 0.8
    min_judgments: int = 5

    def __post_init__(self) -> None:
        if self.alternative not in _SIDE:
            raise ValueError(
                f"alternative must be one of two-sided, greater, less (got {self.alternative!r})"
            )
        if self.family not in ("per_dimension", "all"):
            raise ValueError(f"family must be 'per_dimension' or 'all' (got {self.family!r})")
        if int(self.n_permutations) < 1 or int(self.n_bootstrap) < 1:
            raise ValueError("n_permutations and n_bootstrap must be at least 1")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError("confidence must be in (0, 1)")
        if not 0.0 < self.paired_min_overlap <= 1.0:
            raise ValueError("paired_min_overlap must be in (0, 1]")
        for name in ("systems", "dimensions", "exclude_annotators"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                if isinstance(value, str):
                    value = tuple(v for v in value.split(",") if v)
                object.__setattr__(self, name, tuple(str(v) for v in value))

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("systems", "dimensions", "exclude_annotators"):
            if out[key] is not None:
                out[key] = list(out[key])
        return out


@dataclasses.dataclass
class AnalysisResult:
    """Tables (pandas DataFrames with the columns of ``TABLE_COLUMNS``) and methods.

    ``judgments`` is the frame that was analysed (after filters and exclusions; ratings
    carry ``value_z``; pairwise rows are oriented to the canonical pair order and carry
    ``score`` = +1 A / 0 tie / -1 B). ``info`` holds counts, the systems and dimensions
    analysed, who was excluded and the options, as plain Python values.
    """

    protocol: str
    dimensions: list[dict]
    systems: list[str]
    options: AnalysisOptions
    summary: pd.DataFrame
    comparisons: pd.DataFrame
    agreement: pd.DataFrame
    winrates: pd.DataFrame
    bradley_terry: pd.DataFrame
    length_bias: pd.DataFrame
    position_effects: pd.DataFrame
    annotator_quality: pd.DataFrame
    exclusion_effect: pd.DataFrame
    methods: list[str]
    judgments: pd.DataFrame
    info: dict[str, Any]

    def tables(self) -> dict[str, pd.DataFrame]:
        """All tables by name, in ``TABLE_NAMES`` order."""
        return {name: getattr(self, name) for name in TABLE_NAMES}

    def applicable_tables(self) -> dict[str, pd.DataFrame]:
        """The tables that make sense for this study (what the bundle writes)."""
        out = {}
        for name, frame in self.tables().items():
            if name == "comparisons" and self.protocol != "rating":
                continue
            if name == "winrates" and self.protocol != "pairwise":
                continue
            if name == "bradley_terry" and (self.protocol != "pairwise" or len(self.systems) < 3):
                continue
            out[name] = frame
        return out


def _frame(name: str, rows: Iterable[dict] | None = None) -> pd.DataFrame:
    cols = TABLE_COLUMNS[name]
    rows = list(rows or [])
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.DataFrame(rows).reindex(columns=cols)


# --------------------------------------------------------------------------------------
# Shared, vectorised resampling helpers
# --------------------------------------------------------------------------------------


def _rng(options: AnalysisOptions, tag: int, *sizes: int) -> np.random.Generator:
    """One PCG64 stream per (seed, purpose, sample size): results never depend on the order
    in which comparisons are processed."""
    return np.random.default_rng([int(options.seed), tag, *[int(s) for s in sizes]])


def _bootstrap_count_chunks(
    rng: np.random.Generator, n: int, n_resamples: int
) -> Iterable[np.ndarray]:
    """Yield (rows, n) float matrices of bootstrap counts (how often each of the n units is
    drawn in a resample of size n with replacement), chunked to ``CHUNK_BYTES``."""
    # 4 x CHUNK_BYTES: the count matrix feeds a matrix product, which wants wide chunks
    rows = int(max(1, min(n_resamples, 4 * CHUNK_BYTES // (8 * max(n, 1)))))
    for start in range(0, n_resamples, rows):
        r = min(rows, n_resamples - start)
        idx = rng.integers(0, n, size=(r, n), dtype=np.int64)
        idx += (np.arange(r, dtype=np.int64) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=r * n).reshape(r, n).astype(np.float64)


def shared_bootstrap_means(
    samples: np.ndarray, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap means of k samples of equal size n that share their resamples.

    ``samples`` is (k, n); returns (n_resamples, k). Each resample draws n of the n
    positions with replacement (the same positions for all k rows), expressed as a count
    matrix C so that the k means are one matrix product ``C @ samples.T / n``. Paired data
    pass their differences: resampling positions keeps pairs together.
    """
    x = np.asarray(samples, dtype=np.float64)
    k, n = x.shape
    out = np.empty((n_resamples, k))
    start = 0
    for counts in _bootstrap_count_chunks(rng, n, n_resamples):
        r = counts.shape[0]
        out[start : start + r] = counts @ x.T / n
        start += r
    return out


def _percentile_ci(boot: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    a = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(boot, [a, 1.0 - a], axis=0)
    return lo, hi


# --------------------------------------------------------------------------------------
# Agreement helpers
# --------------------------------------------------------------------------------------


def krippendorff_alpha_long(
    units: np.ndarray, values: np.ndarray, level: str
) -> st.KrippendorffAlphaResult:
    """Krippendorff's alpha from long data (one value per rating, ``units`` = unit codes).

    Alpha depends only on the multiset of values within each unit (all pairs in a unit
    come from different raters when each rater rates a unit once), so no raters x units
    matrix is needed. ``interval``: closed form in O(N) -- with pairable units u holding
    m_u values and n values in all, ``D_o = (2/n) sum_u m_u SS_u / (m_u - 1)`` and
    ``D_e = 2 SS_total / (n - 1)`` (SS = sums of squared deviations from the unit / grand
    mean), which is Krippendorff's coincidence-matrix formula with delta^2 = (c - k)^2.
    Other levels: a units x slots matrix handed to :func:`analysis.stats.krippendorff_alpha`.
    ``n_raters`` is left 0 (the caller knows the raters).
    """
    units = np.asarray(units)
    values = np.asarray(values, dtype=np.float64)
    keep = ~np.isnan(values)
    units, values = units[keep], values[keep]
    codes, inverse = np.unique(units, return_inverse=True)
    m = np.bincount(inverse, minlength=codes.size)
    pairable = m[inverse] >= 2
    label = f"Krippendorff's alpha ({level})"
    if not pairable.any():
        return st.KrippendorffAlphaResult(
            math.nan, level, 0, 0, 0, math.nan, math.nan, label
        )
    inv, vals = inverse[pairable], values[pairable]
    n_units = int((m >= 2).sum())
    n = int(vals.size)
    if level == "interval":
        sums = np.bincount(inv, weights=vals, minlength=codes.size)
        mu = sums[inv] / m[inv]
        ss_u = np.bincount(inv, weights=(vals - mu) ** 2, minlength=codes.size)
        mm = m.astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_unit = np.where(mm >= 2, mm * ss_u / (mm - 1.0), 0.0)
        d_o = 2.0 * float(per_unit.sum()) / n
        ss_tot = float(np.sum((vals - vals.mean()) ** 2))
        d_e = 2.0 * ss_tot / (n - 1.0)
        alpha = 1.0 - d_o / d_e if d_e > 0 else math.nan
        return st.KrippendorffAlphaResult(alpha, level, n_units, n, 0, d_o, d_e, label)
    # slot matrix: slot j of a unit holds its j-th value
    order = np.argsort(inv, kind="stable")
    inv_s, vals_s = inv[order], vals[order]
    starts = np.r_[0, np.flatnonzero(np.diff(inv_s)) + 1]
    unit_pos = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, inv_s.size]))
    slot = np.arange(inv_s.size) - starts[unit_pos]
    mat = np.full((int(slot.max()) + 1, starts.size), np.nan)
    mat[slot, unit_pos] = vals_s
    res = st.krippendorff_alpha(mat, level=level)  # type: ignore[arg-type]
    return dataclasses.replace(res, n_raters=0)


def _fleiss_from_long(units: np.ndarray, labels: np.ndarray, categories: Sequence[object]):
    """Fleiss' kappa when every unit has the same number (>= 2) of labels, else the reason
    it is not defined."""
    codes, inverse = np.unique(units, return_inverse=True)
    cat_pos = {c: i for i, c in enumerate(categories)}
    cat_codes = np.array([cat_pos[v] for v in labels], dtype=np.intp)
    table = np.zeros((codes.size, len(categories)))
    np.add.at(table, (inverse, cat_codes), 1.0)
    counts = table.sum(axis=1)
    if counts.size == 0:
        return None, "no judgments"
    lo, hi = int(counts.min()), int(counts.max())
    if lo != hi:
        return None, f"raters per item vary ({lo}-{hi}); see Krippendorff's alpha"
    if lo < 2:
        return None, "fewer than 2 ratings per item"
    frame = pd.DataFrame(table, columns=list(categories))
    return st.fleiss_kappa(frame), ""


# --------------------------------------------------------------------------------------
# Input preparation
# --------------------------------------------------------------------------------------


def _fmt_list(values: Iterable[object]) -> str:
    return ", ".join(str(v) for v in values) or "(none)"


def _prepare(
    judgments: pd.DataFrame,
    protocol: str,
    dimensions: Sequence[dict],
    options: AnalysisOptions,
) -> tuple[pd.DataFrame, list[dict], list[str], dict[str, Any], pd.DataFrame | None]:
    """The frame to analyse, its dimensions and systems, counts, and the attention-check
    rows (None when there are none), split off after expired leases are dropped."""
    if protocol not in ("rating", "pairwise"):
        raise ValueError(f"protocol must be 'rating' or 'pairwise' (got {protocol!r})")
    required = RATING_REQUIRED if protocol == "rating" else PAIRWISE_REQUIRED
    missing = [c for c in required if c not in judgments.columns]
    if missing:
        raise ValueError(
            f"the judgments frame lacks column(s) {_fmt_list(missing)} "
            f"(a {protocol} frame needs {_fmt_list(required)})"
        )
    dims = []
    for d in dimensions:
        key, kind = str(d["key"]), str(d.get("type", ""))
        if kind not in LEVELS:
            raise ValueError(f"dimension {key!r}: unknown type {kind!r}")
        if protocol == "pairwise" and kind != "choice":
            raise ValueError(f"dimension {key!r}: pairwise studies use choice dimensions")
        if protocol == "rating" and kind == "choice":
            raise ValueError(f"dimension {key!r}: choice dimensions belong to pairwise studies")
        label = d.get("label")
        label = str(label) if label not in (None, "") else key
        dims.append({"key": key, "type": kind, "level": LEVELS[kind], "label": label})
    keep_cols = [c for c in (*required, *OPTIONAL_COLUMNS) if c in judgments.columns]
    frame = judgments[keep_cols].copy()
    frame["_seq"] = np.arange(len(frame))  # input order, to merge attention rows back
    id_cols = ["annotator", "context", "dimension"] + (
        ["system"] if protocol == "rating" else ["system_a", "system_b"]
    )
    for col in id_cols:
        frame[col] = frame[col].astype(str)
    info: dict[str, Any] = {"n_rows_input": int(len(frame))}

    known_dims = [d["key"] for d in dims]
    stray = sorted(set(frame["dimension"].unique()) - set(known_dims))
    if stray:
        raise ValueError(
            f"judgments for dimension(s) {_fmt_list(stray)} that the study does not define "
            f"(dimensions: {_fmt_list(known_dims)})"
        )
    if options.dimensions is not None:
        unknown = [d for d in options.dimensions if d not in known_dims]
        if unknown:
            raise ValueError(
                f"unknown dimension(s) {_fmt_list(unknown)}; the study has {_fmt_list(known_dims)}"
            )
        dims = [d for d in dims if d["key"] in set(options.dimensions)]

    # judgments from expired leases (partial batches)
    n_partial = 0
    if "assignment_status" in frame.columns:
        partial = frame["assignment_status"].astype(str).eq("expired")
        n_partial = int(partial.sum())
        if not options.include_partial:
            frame = frame.loc[~partial]
    info["n_rows_partial"] = n_partial

    # attention-check rows: out of every statistic, into annotator quality only
    attention = None
    if "attention_passed" in frame.columns:
        marked = frame["attention_passed"].notna().to_numpy()
        if marked.any():
            attention = frame.loc[marked].copy()
            attention["attention_passed"] = _attention_flags(attention["attention_passed"])
        frame = frame.loc[~marked]

    if protocol == "rating":
        values = frame["value"]
        if values.dtype == object:
            values = values.map(
                lambda v: float(v) if isinstance(v, bool) else v  # True/False -> 1/0
            )
        try:
            frame["value"] = pd.to_numeric(values, errors="raise").astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"rating values must be numbers: {exc}") from None
        frame = frame.loc[frame["value"].notna()]
        # per-annotator z-scores per dimension, over everything the annotator rated
        frame = st.per_annotator_zscores(
            frame, "annotator", "value", by="dimension", ddof=0, zero_sd="nan", out_col="value_z"
        )
        present = list(dict.fromkeys(sorted(frame["system"].unique())))
    else:
        choice = frame["choice"].astype(str).str.strip().str.lower()
        bad = sorted(set(choice.unique()) - set(CHOICES))
        if bad:
            raise ValueError(f"choices must be a, b or tie (got {_fmt_list(bad)})")
        frame["choice"] = choice
        same = frame["system_a"] == frame["system_b"]
        if same.any():
            raise ValueError("a pairwise judgment compares a system with itself")
        present = sorted(set(frame["system_a"]) | set(frame["system_b"]))

    if options.systems is not None:
        unknown = [s for s in options.systems if s not in present]
        if unknown:
            raise ValueError(
                f"unknown system(s) {_fmt_list(unknown)}; systems with judgments: "
                f"{_fmt_list(present)}"
            )
        systems = list(dict.fromkeys(options.systems))
    else:
        systems = present
    if protocol == "rating":
        frame = frame.loc[frame["system"].isin(systems)]
    else:
        frame = frame.loc[frame["system_a"].isin(systems) & frame["system_b"].isin(systems)]
    frame = frame.loc[frame["dimension"].isin([d["key"] for d in dims])]
    frame = frame.reset_index(drop=True)
    # dimensions the study defines but nobody answered (yet) are left out, and said so
    answered = set(frame["dimension"].unique())
    info["dimensions_without_judgments"] = [d["key"] for d in dims if d["key"] not in answered]
    if len(frame):
        dims = [d for d in dims if d["key"] in answered]
    # integer dimension codes (in ``dims`` order) for fast per-dimension selection
    frame["_dim"] = pd.Categorical(frame["dimension"], categories=[d["key"] for d in dims]).codes

    if protocol == "pairwise":
        frame = _orient_pairs(frame, systems)

    if attention is not None:
        attention = _prepare_attention(attention, protocol, dims)
        info["n_rows_attention"] = int(len(attention))
        info["n_attention_judgments"] = _count_judgments(attention, protocol)

    known_annotators = set(frame["annotator"].unique())
    if attention is not None:
        known_annotators |= set(attention["annotator"].unique())
    unknown = [a for a in options.exclude_annotators if a not in known_annotators]
    if unknown:
        raise ValueError(f"unknown annotator(s) to exclude: {_fmt_list(unknown)}")
    return frame, dims, systems, info, attention


def _attention_flags(values: pd.Series) -> pd.Series:
    """attention_passed as True / False (bools, 1 / 0, or true / false text)."""
    words = {"true": True, "1": True, "1.0": True, "yes": True,
             "false": False, "0": False, "0.0": False, "no": False}

    def flag(v: object) -> bool:
        if isinstance(v, bool | np.bool_):
            return bool(v)
        key = str(v).strip().lower()
        if key not in words:
            raise ValueError(f"attention_passed must be true or false (got {v!r})")
        return words[key]

    return values.map(flag).astype(object)


def _prepare_attention(attention: pd.DataFrame, protocol: str, dims: list[dict]) -> pd.DataFrame:
    """Attention-check rows in the shape annotator quality reads: the analysed dimensions
    only, ``_dim`` codes, and ``value`` (rating) or ``recorded_score`` (pairwise)."""
    keys = [d["key"] for d in dims]
    att = attention.loc[attention["dimension"].isin(keys)].copy()
    if protocol == "rating":
        values = att["value"]
        if values.dtype == object:
            values = values.map(lambda v: float(v) if isinstance(v, bool) else v)
        try:
            att["value"] = pd.to_numeric(values, errors="raise").astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"rating values must be numbers: {exc}") from None
        att = att.loc[att["value"].notna()]
    else:
        choice = att["choice"].astype(str).str.strip().str.lower()
        bad = sorted(set(choice.unique()) - set(CHOICES))
        if bad:
            raise ValueError(f"choices must be a, b or tie (got {_fmt_list(bad)})")
        att["choice"] = choice
        att["recorded_score"] = choice.map({"a": 1.0, "tie": 0.0, "b": -1.0}).astype(np.float64)
    att["_dim"] = pd.Categorical(att["dimension"], categories=keys).codes
    return att.reset_index(drop=True)


def _orient_pairs(frame: pd.DataFrame, systems: list[str]) -> pd.DataFrame:
    """Put every pair in canonical order (system_a before system_b in ``systems``), flipping
    a <-> b where needed. ``side_a`` keeps whether the canonical A was the recorded A
    (shown first / left)."""
    rank = {s: i for i, s in enumerate(systems)}
    ra = frame["system_a"].map(rank)
    rb = frame["system_b"].map(rank)
    flip = (ra > rb).to_numpy()
    out = frame.copy()
    out["recorded_choice"] = frame["choice"]
    a, b = frame["system_a"].to_numpy(), frame["system_b"].to_numpy()
    out["system_a"] = np.where(flip, b, a)
    out["system_b"] = np.where(flip, a, b)
    swap = {"a": "b", "b": "a", "tie": "tie"}
    out["choice"] = np.where(flip, frame["choice"].map(swap), frame["choice"])
    out["side_a"] = ~flip
    if "response_length_a" in frame.columns and "response_length_b" in frame.columns:
        la, lb = frame["response_length_a"].to_numpy(), frame["response_length_b"].to_numpy()
        out["response_length_a"] = np.where(flip, lb, la)
        out["response_length_b"] = np.where(flip, la, lb)
    codes = {"a": 1.0, "tie": 0.0, "b": -1.0}
    out["score"] = out["choice"].map(codes).astype(np.float64)
    # as recorded (first-shown side = +1): what straight-lining checks look at
    out["recorded_score"] = frame["choice"].map(codes).astype(np.float64)
    return out


# --------------------------------------------------------------------------------------
# Annotator quality
# --------------------------------------------------------------------------------------


def _quality(
    frame: pd.DataFrame, protocol: str, dims: list[dict], options: AnalysisOptions
) -> st.AnnotatorQualityResult | None:
    """Per-annotator quality over judgments (one row per judgment, one column per
    dimension), in input order (the database selector yields judgments as recorded)."""
    if frame.empty:
        return None
    keys = ["annotator", "context"] + (
        ["system"] if protocol == "rating" else ["system_a", "system_b"]
    )
    if "batch" in frame.columns:
        keys.append("batch")
    # pairwise: choices as recorded (always picking the first-shown response is
    # straight-lining even when the canonical orientation alternates)
    value_col = "value" if protocol == "rating" else "recorded_score"
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


# --------------------------------------------------------------------------------------
# Ratings
# --------------------------------------------------------------------------------------


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
        dim_keys, systems, contexts, mean.reshape(shape), mean_z.reshape(shape),
        count.reshape(shape), length,
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
    return _frame("summary", rows)


def _rating_comparisons(
    items: _ItemArrays, options: AnalysisOptions, *, resample: bool
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """All pairwise comparisons per dimension and variant; resampling shared by size."""
    alt = options.alternative
    rows: list[dict] = []
    paired_groups: dict[int, list[tuple[int, np.ndarray]]] = {}
    split_groups: dict[tuple[int, int], list[tuple[int, np.ndarray, np.ndarray]]] = {}
    n_sys = len(items.systems)
    for variant, arr in (("raw", items.mean), ("z", items.mean_z)):
        for d, dim in enumerate(items.dims):
            for i in range(n_sys):
                for j in range(i + 1, n_sys):
                    xa_all, xb_all = arr[d, i], arr[d, j]
                    has_a, has_b = ~np.isnan(xa_all), ~np.isnan(xb_all)
                    shared = has_a & has_b
                    n_shared, na_all, nb_all = int(shared.sum()), int(has_a.sum()), int(has_b.sum())
                    paired = n_shared >= 2 and n_shared >= options.paired_min_overlap * max(
                        na_all, nb_all
                    )
                    row: dict[str, Any] = {
                        "dimension": dim,
                        "system_a": items.systems[i],
                        "system_b": items.systems[j],
                        "alternative": alt,
                        "variant": variant,
                    }
                    if paired:
                        xa, xb = xa_all[shared], xb_all[shared]
                        tt = st.paired_t_test(xa, xb, alternative=alt, confidence=options.confidence)
                        dz = st.cohens_dz(xa, xb).value
                        row.update(design="paired", n=tt.n, n_a=tt.n, n_b=tt.n)
                        key = len(rows)
                        if tt.n >= 2:
                            paired_groups.setdefault(tt.n, []).append((key, xa - xb))
                    else:
                        xa, xb = xa_all[has_a], xb_all[has_b]
                        tt = st.welch_t_test(xa, xb, alternative=alt, confidence=options.confidence)
                        dz = math.nan
                        row.update(design="welch", n=tt.n, n_a=tt.n_a, n_b=tt.n_b)
                        key = len(rows)
                        if tt.n_a >= 2 and tt.n_b >= 2:
                            split_groups.setdefault((tt.n_a, tt.n_b), []).append((key, xa, xb))
                    dp = st.cohens_d_pooled(xa, xb)
                    g = st.hedges_g(xa, xb, paired=False)
                    row.update(
                        mean_a=tt.mean_a,
                        mean_b=tt.mean_b,
                        mean_diff=tt.mean_diff,
                        t=tt.t,
                        df=tt.df,
                        p_value=tt.p,
                        p_permutation=math.nan,
                        cohens_d_pooled=dp.value,
                        cohens_dz=dz,
                        hedges_g=g.value,
                        ci_low=math.nan,
                        ci_high=math.nan,
                    )
                    rows.append(row)
    perm_labels: set[str] = set()
    if resample:
        for n, group in sorted(paired_groups.items()):
            keys = [k for k, _ in group]
            diffs = np.vstack([d for _, d in group])
            perms = st.paired_permutation_tests(
                diffs,
                alternative=alt,
                n_resamples=options.n_permutations,
                seed=_rng(options, _TAG_PAIRED_PERM, n),
            )
            boot = shared_bootstrap_means(
                diffs, options.n_bootstrap, _rng(options, _TAG_BOOT_PAIRED, n)
            )
            lo, hi = _percentile_ci(boot, options.confidence)
            for idx, key in enumerate(keys):
                rows[key].update(p_permutation=perms[idx].p, ci_low=lo[idx], ci_high=hi[idx])
                perm_labels.add(perms[idx].method)
        for (na, nb), group in sorted(split_groups.items()):
            keys = [k for k, _, _ in group]
            a = np.vstack([x for _, x, _ in group])
            b = np.vstack([y for _, _, y in group])
            perms = st.two_sample_permutation_tests(
                a,
                b,
                alternative=alt,
                n_resamples=options.n_permutations,
                seed=_rng(options, _TAG_SPLIT_PERM, na, nb),
            )
            boot_rng = _rng(options, _TAG_BOOT_TWO, na, nb)
            boot = shared_bootstrap_means(a, options.n_bootstrap, boot_rng)
            boot -= shared_bootstrap_means(b, options.n_bootstrap, boot_rng)
            lo, hi = _percentile_ci(boot, options.confidence)
            for idx, key in enumerate(keys):
                rows[key].update(p_permutation=perms[idx].p, ci_low=lo[idx], ci_high=hi[idx])
                perm_labels.add(perms[idx].method)
    frame = _frame("comparisons", rows)
    _correct(frame, "p_value", "p_holm", "p_bonferroni", options, ["variant"])
    meta = {
        "designs": sorted(set(frame["design"])) if len(frame) else [],
        "permutation_labels": sorted(perm_labels),
        "paired_sizes": sorted(paired_groups),
        "split_sizes": sorted(split_groups),
    }
    return frame, meta


def _correct(
    frame: pd.DataFrame,
    p_col: str,
    holm_col: str,
    bonf_col: str,
    options: AnalysisOptions,
    base_keys: list[str],
) -> None:
    """Holm and Bonferroni within each family (per dimension, or all dimensions)."""
    frame[holm_col] = np.nan
    frame[bonf_col] = np.nan
    if frame.empty:
        return
    keys = list(base_keys) + (["dimension"] if options.family == "per_dimension" else [])
    groups = frame.groupby(keys, sort=False).indices if keys else {None: np.arange(len(frame))}
    p_all = frame[p_col].to_numpy(np.float64)
    holm = np.full(len(frame), np.nan)
    bonf = np.full(len(frame), np.nan)
    for idx in groups.values():
        idx = np.asarray(idx)
        holm[idx] = st.holm(p_all[idx], alpha=options.alpha).p_adjusted
        bonf[idx] = st.bonferroni(p_all[idx], alpha=options.alpha).p_adjusted
    frame[holm_col] = holm
    frame[bonf_col] = bonf


def _icc_rows(dim: str, unit: np.ndarray, annot: np.ndarray, vals: np.ndarray) -> list[dict]:
    """ICC per dimension: two-way random ICC(2,1)/ICC(2,k) when every annotator rated every
    item (fully crossed), else one-way ICC(1,1)/ICC(1,k) on rating slots."""
    frame = pd.DataFrame({"unit": unit, "annotator": annot, "value": vals})
    frame = frame.groupby(["unit", "annotator"], sort=True, as_index=False)["value"].mean()
    n_units = frame["unit"].nunique()
    n_ann = frame["annotator"].nunique()
    rows = []
    crossed = n_ann >= 2 and n_units >= 2 and len(frame) == n_units * n_ann
    if crossed:
        mat = st.ratings_matrix_from_long(frame, "unit", "annotator", "value").to_numpy()
        forms = ("ICC(2,1)", "ICC(2,k)")
        note = "fully crossed: two-way random effects, absolute agreement"
    else:
        mat = st.slot_matrix_from_long(frame, "unit", "value").to_numpy()
        forms = ("ICC(1,1)", "ICC(1,k)")
        note = (
            f"different raters per item: one-way random effects on the first {mat.shape[1]} "
            "ratings of each item"
        )
    if mat.shape[0] < 2 or mat.shape[1] < 2:
        for form in forms:
            rows.append(
                {"dimension": dim, "metric": form, "value": math.nan, "n_items": int(mat.shape[0]),
                 "n_raters": int(mat.shape[1]) if mat.ndim == 2 else 0, "level": "interval",
                 "ci_low": math.nan, "ci_high": math.nan,
                 "note": "needs at least 2 items with 2 ratings each"}
            )
        return rows
    res = st.icc_all(mat)
    for form in forms:
        r = res[form]
        why = note
        if math.isnan(r.value):
            why = "no variation in the ratings: ICC undefined"
        rows.append(
            {"dimension": dim, "metric": form, "value": r.value, "n_items": r.n_items, "n_raters": r.n_raters,
             "level": "interval", "ci_low": r.ci_low, "ci_high": r.ci_high, "note": why}
        )
    return rows


def _rating_agreement(frame: pd.DataFrame, dims: list[dict]) -> pd.DataFrame:
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
            {"dimension": key, "metric": "krippendorff_alpha", "value": ka.alpha,
             "n_items": ka.n_units, "n_raters": int(pd.unique(annot[pairable]).size),
             "level": level, "ci_low": math.nan, "ci_high": math.nan,
             "note": _alpha_note(ka)}
        )
        # ICC treats ratings as interval data: sliders and Likert scales, never a checkbox
        if unit.size and kind != "checkbox":
            rows.extend(_icc_rows(key, unit, annot, vals))
        if kind in CATEGORICAL_TYPES:
            cats = sorted(pd.unique(vals).tolist())
            res, why = _fleiss_from_long(unit, vals, cats) if unit.size else (None, "no judgments")
            names = [_category_name(c, kind) for c in cats]
            if res is not None and math.isnan(res.kappa):
                why = (f"every rating is in one category ({_fmt_list(names)}): expected "
                       "agreement is 1, kappa undefined")
                res_ok = False
            else:
                res_ok = res is not None
            rows.append(
                {"dimension": key, "metric": "fleiss_kappa",
                 "value": res.kappa if res_ok else math.nan,
                 "n_items": res.n_items if res else int((m >= 2).sum()) if unit.size else 0,
                 "n_raters": res.n_raters if res else 0, "level": "nominal",
                 "ci_low": math.nan, "ci_high": math.nan,
                 "note": (f"categories {_fmt_list(names)}; raters per item fixed"
                          if res_ok else why)}
            )
    return _frame("agreement", rows)


def _alpha_note(ka: st.KrippendorffAlphaResult) -> str:
    """Why Krippendorff's alpha is missing ("" when it is not)."""
    if not math.isnan(ka.alpha):
        return ""
    if ka.n_units == 0:
        return "needs an item with at least 2 ratings"
    return "every rating is the same: expected disagreement is 0, alpha undefined"


def _category_name(value: float, kind: str) -> str:
    if kind == "checkbox":
        return "Yes" if value else "No"
    return _num(value)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _rating_length_bias(items: _ItemArrays) -> pd.DataFrame:
    if items.length is None:
        return _frame("length_bias")
    rows = []
    for d, dim in enumerate(items.dims):
        scopes = [("all", slice(None))] + [(s, i) for i, s in enumerate(items.systems)]
        for name, sel in scopes:
            y = items.mean[d, sel].ravel()
            x = items.length[sel].ravel()
            res = st.length_bias(y, x)
            rows.append(
                {"dimension": dim, "system": name, "n": res.n, "pearson_r": res.pearson_r,
                 "pearson_p": res.pearson_p, "spearman_rho": res.spearman_rho,
                 "spearman_p": res.spearman_p}
            )
    return _frame("length_bias", rows)


def _position_rows(frame: pd.DataFrame, dims: list[dict], value_col: str) -> list[dict]:
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
                {"dimension": dim["key"], "factor": factor, "estimate": res.slope, "se": res.se,
                 "statistic": res.t, "df": res.df, "p_value": res.p, "n": res.n,
                 "n_groups": res.n_groups,
                 "description": f"{what}; within-annotator OLS slope, t-test"}
            )
    return rows


def _rating_core(
    frame: pd.DataFrame, dims: list[dict], systems: list[str], options: AnalysisOptions,
    *, resample: bool
) -> dict[str, Any]:
    items = _item_arrays(frame, dims, systems)
    comparisons, meta = _rating_comparisons(items, options, resample=resample)
    return {
        "items": items,
        "summary": _rating_summary(items, options.confidence),
        "comparisons": comparisons,
        "agreement": _rating_agreement(frame, dims),
        "meta": meta,
    }


# --------------------------------------------------------------------------------------
# Pairwise
# --------------------------------------------------------------------------------------


def _pairwise_winrates(
    frame: pd.DataFrame, dims: list[dict], systems: list[str], options: AnalysisOptions,
    *, resample: bool
) -> tuple[pd.DataFrame, list[str]]:
    rows = []
    vectors = []
    rank = {s: i for i, s in enumerate(systems)}
    grouped = frame.groupby(["dimension", "system_a", "system_b"], sort=False)["choice"]
    counts = grouped.value_counts().unstack(fill_value=0).reindex(columns=list(CHOICES), fill_value=0)
    scores = frame.groupby(["dimension", "system_a", "system_b"], sort=False)["score"]
    score_map = {k: v.to_numpy() for k, v in scores}
    dim_order = {d["key"]: i for i, d in enumerate(dims)}
    keys = sorted(counts.index, key=lambda k: (dim_order[k[0]], rank[k[1]], rank[k[2]]))
    for dim, sa, sb in keys:
        wa, wb, wt = (int(counts.loc[(dim, sa, sb), c]) for c in ("a", "b", "tie"))
        wtl = st.win_tie_loss(["a"] * wa + ["tie"] * wt + ["b"] * wb)
        sign = st.sign_test_counts(wa, wb, wt, alternative=options.alternative)
        rows.append(
            {"dimension": dim, "system_a": sa, "system_b": sb, "wins_a": wa, "ties": wt,
             "wins_b": wb, "share_a": wtl.share_a, "share_tie": wtl.share_tie,
             "share_b": wtl.share_b, "p_sign": sign.p, "p_permutation": math.nan,
             "n": wtl.n}
        )
        vectors.append(score_map[(dim, sa, sb)])
    labels: list[str] = []
    if resample and vectors:
        width = max(v.size for v in vectors)
        mat = np.full((len(vectors), width), np.nan)
        for i, v in enumerate(vectors):
            mat[i, : v.size] = v
        perms = st.preference_permutation_tests(
            mat, alternative=options.alternative, n_resamples=options.n_permutations,
            seed=_rng(options, _TAG_PREF_PERM),
        )
        for row, res in zip(rows, perms, strict=True):
            row["p_permutation"] = res.p
            labels.append(res.method)
    table = _frame("winrates", rows)
    _correct(table, "p_sign", "p_sign_holm", "p_sign_bonferroni", options, [])
    return table, sorted(set(labels))


def _pairwise_summary(frame: pd.DataFrame, dims: list[dict], systems: list[str], confidence):
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
                {"dimension": dim["key"], "system": system, "n_judgments": int(score.size),
                 "n_items": int(len(items)), "mean": ci.mean if ci else math.nan,
                 "sd": ci.sd if ci else math.nan, "ci_low": ci.ci_low if ci else math.nan,
                 "ci_high": ci.ci_high if ci else math.nan, "mean_z": math.nan}
            )
    return _frame("summary", rows)


def _pairwise_agreement(frame: pd.DataFrame, dims: list[dict]) -> pd.DataFrame:
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
            {"dimension": dim["key"], "metric": "krippendorff_alpha", "value": ka.alpha,
             "n_items": ka.n_units, "n_raters": n_raters, "level": "nominal",
             "ci_low": math.nan, "ci_high": math.nan, "note": "labels A / B / tie"}
        )
        res, why = (
            _fleiss_from_long(unit, sub["choice"].to_numpy(), list(CHOICES))
            if unit.size else (None, "no judgments")
        )
        rows.append(
            {"dimension": dim["key"], "metric": "fleiss_kappa",
             "value": res.kappa if res else math.nan, "n_items": res.n_items if res else 0,
             "n_raters": res.n_raters if res else 0, "level": "nominal",
             "ci_low": math.nan, "ci_high": math.nan,
             "note": "categories A, B, tie; raters per item fixed" if res else why}
        )
    return _frame("agreement", rows)


def _pairwise_bt(
    frame: pd.DataFrame, dims: list[dict], systems: list[str], options: AnalysisOptions
) -> tuple[pd.DataFrame, list[str]]:
    rows, notes = [], []
    for dim in dims:
        sub = frame.loc[frame["dimension"] == dim["key"]]
        a, b, c = sub["system_a"].to_numpy(), sub["system_b"].to_numpy(), sub["choice"].to_numpy()
        wins = [(x, y) for x, y, ch in zip(a, b, c, strict=True) if ch == "a"]
        wins += [(y, x) for x, y, ch in zip(a, b, c, strict=True) if ch == "b"]
        ties = [(x, y) for x, y, ch in zip(a, b, c, strict=True) if ch == "tie"]
        involved = [s for s in systems if s in set(a) | set(b)]
        if len(involved) < 3:
            notes.append(f"{dim['key']}: fewer than 3 systems compared")
            continue
        try:
            res = st.bradley_terry(
                wins, ties=ties, systems=involved, n_resamples=options.n_bootstrap,
                confidence=options.confidence, seed=_rng(options, _TAG_BT),
            )
        except ValueError as exc:
            notes.append(f"{dim['key']}: {exc}")
            continue
        table = res.to_frame()
        for _, r in table.iterrows():
            rows.append(
                {"dimension": dim["key"], "system": r["system"], "strength": r["strength"],
                 "log_strength": r["log_strength"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                 "wins": r["wins"], "n_comparisons": res.n_comparisons}
            )
        if res.n_degenerate:
            notes.append(
                f"{dim['key']}: {res.n_degenerate} of {res.n_resamples} bootstrap resamples had "
                "no finite estimate and were left out of the intervals"
            )
    return _frame("bradley_terry", rows), notes


def _pairwise_diagnostics(frame: pd.DataFrame, dims: list[dict]) -> tuple[list[dict], list[dict]]:
    pos_rows, len_rows = [], []
    for dim in dims:
        sub = frame.loc[frame["dimension"] == dim["key"]]
        recorded = sub["recorded_choice"]
        first, second = int((recorded == "a").sum()), int((recorded == "b").sum())
        ties = int((recorded == "tie").sum())
        sign = st.sign_test_counts(first, second, ties)
        pos_rows.append(
            {"dimension": dim["key"], "factor": "side", "estimate": sign.share_a, "se": math.nan,
             "statistic": math.nan, "df": math.nan, "p_value": sign.p, "n": sign.n,
             "n_groups": math.nan,
             "description": "share of non-tied choices for the response recorded as A "
                            "(shown first / left); exact two-sided binomial test against 0.5"}
        )
        if "response_length_a" in sub.columns and "response_length_b" in sub.columns:
            la = pd.to_numeric(sub["response_length_a"], errors="coerce").to_numpy(np.float64)
            lb = pd.to_numeric(sub["response_length_b"], errors="coerce").to_numpy(np.float64)
            res = st.length_bias(sub["score"].to_numpy(np.float64), la - lb)
            len_rows.append(
                {"dimension": dim["key"], "system": "all", "n": res.n, "pearson_r": res.pearson_r,
                 "pearson_p": res.pearson_p, "spearman_rho": res.spearman_rho,
                 "spearman_p": res.spearman_p}
            )
    return pos_rows, len_rows


# --------------------------------------------------------------------------------------
# Exclusion effect
# --------------------------------------------------------------------------------------


def _exclusion_rows(
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
            {"dimension": dim, "system_a": sa, "system_b": sb, "quantity": quantity,
             "with_all": a, "without_excluded": b, "change": change,
             "n_annotators_excluded": n_excl}
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
        if protocol == "rating":
            c_all = with_all["comparisons"]
            c_all = c_all.loc[(c_all["dimension"] == dim) & (c_all["variant"] == "raw")]
            c_wo = without["comparisons"]
            c_wo = c_wo.loc[c_wo["variant"] == "raw"].set_index(["dimension", "system_a", "system_b"])
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


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def analyze(
    judgments: pd.DataFrame,
    *,
    protocol: str,
    dimensions: Sequence[dict],
    options: AnalysisOptions | None = None,
) -> AnalysisResult:
    """Analyse a study's judgments (canonical long frame) and say how.

    Raises ValueError with a clear message for a malformed frame, an unknown system,
    dimension or annotator, or bad options.
    """
    options = options or AnalysisOptions()
    frame, dims, systems, info, attention = _prepare(judgments, protocol, dimensions, options)
    methods: list[str] = []

    # --- annotator quality and exclusions ------------------------------------------------
    # attention-check judgments count here (in input order among the others) and nowhere else
    quality_frame = frame
    if attention is not None and len(attention):
        quality_frame = (
            pd.concat([frame, attention], ignore_index=True)
            .sort_values("_seq", kind="stable")
            .reset_index(drop=True)
        )
    quality = _quality(quality_frame, protocol, dims, options)
    flagged = quality.flagged_annotators if quality is not None else []
    excluded = set(options.exclude_annotators)
    if options.exclude_flagged:
        excluded |= set(flagged)
    all_frame = frame
    kept = frame.loc[~frame["annotator"].isin(excluded)].reset_index(drop=True)
    if len(frame) and kept.empty:
        raise ValueError(_nothing_left(frame, quality, flagged, excluded, options))
    if quality is not None:
        qtable = quality.table.copy()
        qtable["annotator"] = qtable["annotator"].astype(str)
        qtable["excluded"] = qtable["annotator"].isin(excluded)
        annotator_quality = _frame("annotator_quality", qtable.to_dict("records"))
    else:
        annotator_quality = _frame("annotator_quality")

    # --- main analysis --------------------------------------------------------------------
    def run(data: pd.DataFrame, resample: bool) -> dict[str, Any]:
        if protocol == "rating":
            return _rating_core(data, dims, systems, options, resample=resample)
        winrates, labels = _pairwise_winrates(data, dims, systems, options, resample=resample)
        return {
            "summary": _pairwise_summary(data, dims, systems, options.confidence),
            "winrates": winrates,
            "agreement": _pairwise_agreement(data, dims),
            "meta": {"permutation_labels": labels},
        }

    main = run(kept, True)
    # alternative run for the exclusion effect (parametric parts only, no resampling)
    if excluded:
        alt = run(all_frame, False)
        with_all, without = alt, main
        excl_set = sorted(excluded)
    elif flagged:
        alt = run(kept.loc[~kept["annotator"].isin(flagged)].reset_index(drop=True), False)
        with_all, without = main, alt
        excl_set = sorted(flagged)
    else:
        with_all = without = None
        excl_set = []
    if with_all is not None and without is not None:
        exclusion_effect = _exclusion_rows(protocol, with_all, without, len(excl_set))
        exclusion_effect = _frame("exclusion_effect", exclusion_effect)
    else:
        exclusion_effect = _frame("exclusion_effect")

    # --- diagnostics ----------------------------------------------------------------------
    if protocol == "rating":
        length_bias = _rating_length_bias(main["items"])
        position_effects = _frame("position_effects", _position_rows(kept, dims, "value"))
        comparisons = main["comparisons"]
        winrates = _frame("winrates")
        bradley_terry = _frame("bradley_terry")
        bt_notes: list[str] = []
    else:
        pos_rows, len_rows = _pairwise_diagnostics(kept, dims)
        position_effects = _frame("position_effects", pos_rows)
        length_bias = _frame("length_bias", len_rows)
        comparisons = _frame("comparisons")
        winrates = main["winrates"]
        if len(systems) >= 3:
            bradley_terry, bt_notes = _pairwise_bt(kept, dims, systems, options)
        else:
            bradley_terry, bt_notes = _frame("bradley_terry"), []

    info.update(
        protocol=protocol,
        n_rows_analysed=int(len(kept)),
        n_judgments_analysed=_count_judgments(kept, protocol),
        n_annotators=int(kept["annotator"].nunique()),
        n_contexts=int(kept["context"].nunique()),
        systems=list(systems),
        dimensions=[dict(d) for d in dims],
        flagged_annotators=sorted(str(a) for a in flagged),
        excluded_annotators=sorted(str(a) for a in excluded),
        exclusion_compared=excl_set,
        options=options.as_dict(),
    )
    methods = _methods(protocol, dims, systems, options, info, main, quality, bt_notes,
                       with_all is not None, bool(excluded))
    judgments_out = kept
    return AnalysisResult(
        protocol=protocol,
        dimensions=[dict(d) for d in dims],
        systems=list(systems),
        options=options,
        summary=main["summary"],
        comparisons=comparisons,
        agreement=main["agreement"],
        winrates=winrates,
        bradley_terry=bradley_terry,
        length_bias=length_bias,
        position_effects=position_effects,
        annotator_quality=annotator_quality,
        exclusion_effect=exclusion_effect,
        methods=methods,
        judgments=judgments_out,
        info=info,
    )


def _nothing_left(frame: pd.DataFrame, quality, flagged: list, excluded: set,
                  options: AnalysisOptions) -> str:
    """Why the exclusions leave no judgment: who was flagged (with the figures behind each
    flag) and who was excluded by name."""
    from .tables import flag_explanations

    annotators = sorted(str(a) for a in frame["annotator"].unique())
    named = set(options.exclude_annotators)
    parts = []
    if options.exclude_flagged and flagged:
        table = quality.table.copy()
        table["annotator"] = table["annotator"].astype(str)
        rows = table.set_index("annotator")
        flags = []
        for a in sorted(str(x) for x in flagged):
            why = flag_explanations(rows.loc[a].to_dict(), quality.thresholds)
            flags.append(f"{a} ({'; '.join(why) or 'flagged'})")
        parts.append("flagged by the quality checks and left out by exclude_flagged "
                     "(--exclude-flagged): " + ", ".join(flags))
    if named:
        parts.append("excluded by name (exclude_annotators): " + ", ".join(sorted(named)))
    who = (f"the only annotator, {annotators[0]}, is" if len(annotators) == 1
           else f"all {plural(len(annotators), 'annotator')} are")
    advice = (" Analyse without --exclude-flagged, or change the quality thresholds."
              if options.exclude_flagged and flagged else "")
    return f"nothing left to analyse: {who} excluded. " + "; ".join(parts) + "." + advice


def _count_judgments(frame: pd.DataFrame, protocol: str) -> int:
    keys = ["annotator", "context"] + (["system"] if protocol == "rating" else ["system_a", "system_b"])
    if "batch" in frame.columns:
        keys.append("batch")
    return int(frame[keys].drop_duplicates().shape[0]) if len(frame) else 0


# --------------------------------------------------------------------------------------
# Methods in words
# --------------------------------------------------------------------------------------


def _methods(
    protocol: str,
    dims: list[dict],
    systems: list[str],
    options: AnalysisOptions,
    info: dict[str, Any],
    main: dict[str, Any],
    quality: st.AnnotatorQualityResult | None,
    bt_notes: list[str],
    has_exclusion_effect: bool,
    excluding: bool,
) -> list[str]:
    o = options
    side = _SIDE[o.alternative]
    conf = f"{o.confidence:.0%}"
    family = (
        "the comparisons of one dimension (and variant)"
        if o.family == "per_dimension"
        else "all comparisons across dimensions (per variant)"
    )
    out = [
        f"Data: {plural(info['n_judgments_analysed'], 'judgment')} "
        f"({plural(info['n_rows_analysed'], 'judgment x dimension row')}) by "
        f"{plural(info['n_annotators'], 'annotator')} on "
        f"{plural(info['n_contexts'], 'context')}; systems {_fmt_list(systems)}; dimensions "
        + _fmt_list(f"{d['label']} ({d['type']})" for d in dims) + ".",
    ]
    if info.get("dimensions_without_judgments") and info["n_rows_analysed"]:
        out.append(
            "Dimensions without judgments, left out: "
            + _fmt_list(info["dimensions_without_judgments"]) + "."
        )
    if info.get("n_rows_partial"):
        if o.include_partial:
            out.append(
                f"{plural(info['n_rows_partial'], 'row')} from batches whose lease expired "
                "(partial work) included (include_partial)."
            )
        else:
            out.append(
                f"{plural(info['n_rows_partial'], 'row')} from batches whose lease expired "
                "(partial work) left out; include_partial=True keeps them."
            )
    if quality is not None:
        th = quality.thresholds
        out.append(
            "Annotator quality: median time per item, straight-lining index (share of "
            "consecutive judgments identical to the previous one on every dimension), rating "
            "SD and attention checks where recorded; an annotator is flagged when "
            f"median seconds < {th['min_median_seconds']}, straight-lining index > "
            f"{th['max_straightline']}, SD <= {th['min_sd']} or attention pass rate < "
            f"{th['min_attention_pass']} (the straight-lining and SD rules need at least "
            f"{plural(th['min_judgments'], 'judgment')}). Flagged: "
            f"{_fmt_list(info['flagged_annotators'])}."
        )
    if info.get("n_rows_attention") is not None:
        out.append(
            f"Attention checks: {plural(info['n_attention_judgments'], 'judgment')} of "
            f"attention-check items ({plural(info['n_rows_attention'], 'judgment x dimension row')})"
            " are left out of "
            "every statistic and count only in annotator quality, where attention_pass_rate "
            "is the share of an annotator's checks passed (every condition of the check met)."
        )
    if excluding:
        out.append(
            f"Excluded from every table except annotator quality: "
            f"{_fmt_list(info['excluded_annotators'])}"
            + (" (flagged annotators, exclude_flagged)" if o.exclude_flagged else "")
            + "."
        )
    if has_exclusion_effect:
        out.append(
            "Exclusion effect: the main estimates (means, mean differences, effect sizes, "
            "t-test / sign-test p-values and agreement) are recomputed with and without "
            + ("annotator " if len(info["exclusion_compared"]) == 1 else "annotators ")
            + f"{_fmt_list(info['exclusion_compared'])}; the comparison run uses no "
            "resampling."
        )
    else:
        out.append("Exclusion effect: no annotator was flagged or excluded, so nothing to compare.")

    if protocol == "rating":
        meta = main["meta"]
        out += [
            "Unit of analysis: the item (context x system). Each item's ratings are averaged "
            "first; summary statistics, tests, effect sizes and intervals use item means. "
            "Checkbox answers count as 1 (Yes, ticked) / 0 (No), so a checkbox mean is the "
            "share of Yes answers.",
            f"Summary: per system and dimension, the mean, SD (ddof=1) and t-based {conf} "
            "confidence interval of the item means; mean_z is the mean of item means of "
            "per-annotator z-scores.",
            "Variants side by side: raw ratings and per-annotator z-scores (each annotator's "
            "ratings in a dimension minus their mean, divided by their population SD; "
            "annotators with constant ratings in a dimension get no z-score). Each variant is "
            "a separate correction family.",
            "Design: a pair of systems gets a paired t-test on the contexts both were rated on "
            f"when those make up at least {o.paired_min_overlap:.0%} of the contexts of each "
            "system, otherwise Welch's unequal-variance t-test on all item means of each "
            f"system; the design column says which was used (used here: "
            f"{_fmt_list(meta['designs'])}).",
            f"Alternative: {side}; for one-sided tests the hypothesis is about system_a minus "
            "system_b in the order " + _fmt_list(systems) + ".",
            "Effect sizes: cohens_d_pooled = mean difference / pooled SD of the two sets of "
            "item means (the variant the EmPO paper reports beside its paired t-tests); "
            "cohens_dz = mean of the paired differences / their SD (paired design only); "
            "hedges_g = cohens_d_pooled times the exact small-sample correction "
            "J(n_a + n_b - 2).",
            "Multiple comparisons: Holm step-down (p_holm) and Bonferroni (p_bonferroni) "
            f"adjustments of the t-test p-values within {family}.",
            f"Permutation tests ({plural(o.n_permutations, 'resample')}, seed {o.seed}): "
            + "; ".join(meta["permutation_labels"] or ["none computed"])
            + ". Paired comparisons flip the signs of the item-mean differences, Welch "
            "comparisons permute system labels among the item means; all comparisons of the "
            "same sample size share one resample matrix.",
            f"Confidence interval of the mean difference (ci_low, ci_high): two-sided {conf} "
            f"percentile bootstrap, {plural(o.n_bootstrap, 'resample')}, seed {o.seed}; paired designs "
            "resample contexts (pairs kept together), Welch designs resample each system's "
            "items independently; comparisons of the same sample size share the resamples.",
            "Agreement per dimension: Krippendorff's alpha over items (context x system) at "
            "the dimension's level of measurement ("
            + _fmt_list(f"{d['label']}: {d['level']}" for d in dims)
            + "); for slider and Likert dimensions (ICC treats ratings as interval data, so "
            "checkbox dimensions get none) ICC(2,1) and ICC(2,k) (two-way random, absolute "
            "agreement) when every annotator rated every item, otherwise ICC(1,1) and ICC(1,k) "
            f"(one-way random) on the first k ratings of each item, with {conf} F-based "
            "intervals; Fleiss' kappa for checkbox and Likert dimensions when every item has "
            "the same number of ratings.",
            "Length bias: Pearson r (t-test) and Spearman rho of item mean ratings with the "
            "response length (words), over all systems and within each system, two-sided.",
            "Position and block-order effects: OLS slope of the rating on the position inside "
            "the batch (and on the block index) with annotator fixed effects, two-sided t-test.",
            "Random numbers: numpy PCG64 generators seeded with "
            f"[{o.seed}, purpose, sample size], so every figure is reproducible.",
        ]
    else:
        labels = main["meta"]["permutation_labels"]
        out += [
            "Pairs are oriented to the system order " + _fmt_list(systems)
            + " (a judgment recorded the other way round has A and B swapped); counts are "
            "over judgments.",
            "Win / tie / loss: counts and shares over all judgments (ties included, as in "
            "the ProsocialDialog tables).",
            f"Sign test: exact binomial test of A wins among non-tied judgments against 0.5, "
            f"{side}; Holm (p_sign_holm) and Bonferroni (p_sign_bonferroni) adjustments within "
            f"{family.replace(' (and variant)', '').replace(' (per variant)', '')}.",
            f"Permutation test ({plural(o.n_permutations, 'resample')}, seed {o.seed}): "
            + "; ".join(labels or ["none computed"]) + ".",
            "Summary: per system and dimension, the expected score over all its comparisons "
            f"(win 1, tie 0.5, loss 0) with SD and t-based {conf} interval.",
            "Agreement per dimension: Krippendorff's alpha (nominal) over items (context x "
            "pair) and Fleiss' kappa over {A, B, tie} when every item has the same number of "
            "judgments.",
            "Side bias: share of non-tied choices for the response recorded as A (shown "
            "first / left), exact two-sided binomial test against 0.5.",
        ]
        if len(systems) >= 3:
            out.append(
                "Bradley–Terry strengths per dimension (MLE by Hunter's MM algorithm, "
                "log-strengths summing to 0, a tie counting half a win for each side) with "
                f"{conf} percentile bootstrap intervals over judgments, "
                f"{plural(o.n_bootstrap, 'resample')}, seed {o.seed}."
            )
            out += [f"Bradley–Terry note: {n}." for n in bt_notes]
        out.append(
            "Random numbers: numpy PCG64 generators seeded with "
            f"[{o.seed}, purpose], so every figure is reproducible."
        )
    return out
