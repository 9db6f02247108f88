"""The canonical long frame, checked and prepared for the statistics. Pure.

:func:`prepare_frame` takes the frame the selectors (or ``import_judgments``) produce (see
``analysis/README.md``) and returns what every table is computed from: the frame to
analyse, its dimensions and systems, counts, and the attention-check rows split off.
Each step is a named function below, in the order ``prepare_frame`` runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from analysis import stats as st
from analysis.formatting import comma_list
from annotation.dimensions import TYPES as DIMENSION_TYPES
from core.vocabulary import Choice, DimensionType, Protocol, values

from .options import ZSCORE_CONVENTIONS, AnalysisOptions

__all__ = [
    "CATEGORICAL_TYPES",
    "CHOICES",
    "LEVELS",
    "OPTIONAL_COLUMNS",
    "OPTIONAL_NUMERIC",
    "PAIRWISE_REQUIRED",
    "RATING_REQUIRED",
    "PreparedFrame",
    "count_judgments",
    "prepare_frame",
]

RATING_REQUIRED = ("annotator", "context", "system", "dimension", "value")
PAIRWISE_REQUIRED = ("annotator", "context", "system_a", "system_b", "dimension", "choice")
#: The frame's optional numeric columns (see analysis/README.md): the one list, which
#: ``judgment_import`` reads from imported files and the selectors make numeric.
OPTIONAL_NUMERIC = (
    "position",
    "block",
    "batch",
    "time_on_item_ms",
    "response_length",
    "response_length_a",
    "response_length_b",
)
OPTIONAL_COLUMNS = (*OPTIONAL_NUMERIC, "assignment_status", "attention_passed")
#: Krippendorff's alpha level of measurement per dimension type (each type's ``agreement``).
LEVELS = {kind: dimension.agreement for kind, dimension in DIMENSION_TYPES.items()}
CATEGORICAL_TYPES = (DimensionType.CHECKBOX, DimensionType.LIKERT, DimensionType.CHOICE)
CHOICES = values(Choice)
# a pairwise choice as a score: +1 for A, 0 for a tie, -1 for B
CHOICE_SCORES = {Choice.A.value: 1.0, Choice.TIE.value: 0.0, Choice.B.value: -1.0}


class PreparedFrame(NamedTuple):
    """What :func:`prepare_frame` returns (unpacks like the tuple it replaced)."""

    frame: pd.DataFrame
    dims: list[dict]
    systems: list[str]
    info: dict[str, Any]
    attention: pd.DataFrame | None  # attention-check rows; None when there are none


def prepare_frame(
    judgments: pd.DataFrame,
    protocol: str,
    dimensions: Sequence[dict],
    options: AnalysisOptions,
) -> PreparedFrame:
    """The frame to analyse, its dimensions and systems, counts, and the attention-check
    rows (None when there are none), split off after expired leases are dropped.

    Raises ValueError naming what is wrong with the frame or the options."""
    required = _required_columns(judgments, protocol)
    dims = _study_dimensions(dimensions, protocol)
    judgments, n_control = _without_controls(judgments)
    frame = _canonical_columns(judgments, protocol, required)
    info: dict[str, Any] = {"n_rows_input": int(len(frame))}
    if n_control:
        info["n_rows_control"] = n_control
    dims = _selected_dimensions(frame, dims, options)
    frame, info["n_rows_partial"] = _without_partial_batches(frame, options)
    frame, attention = _split_attention(frame)
    if protocol == Protocol.RATING:
        frame = _rating_values(frame, options)
        present = list(dict.fromkeys(sorted(frame["system"].unique())))
    else:
        frame = _pairwise_choices(frame)
        present = sorted(set(frame["system_a"]) | set(frame["system_b"]))
    systems = _selected_systems(present, options)
    frame = _keep_systems_and_dimensions(frame, protocol, systems, dims)
    dims = _answered_dimensions(frame, dims, info)
    # integer dimension codes (in ``dims`` order) for fast per-dimension selection
    frame["_dim"] = pd.Categorical(frame["dimension"], categories=[d["key"] for d in dims]).codes
    if protocol == Protocol.PAIRWISE:
        frame = _orient_pairs(frame, systems)
    if attention is not None:
        attention = _prepare_attention(attention, protocol, dims)
        info["n_rows_attention"] = int(len(attention))
        info["n_attention_judgments"] = count_judgments(attention, protocol)
    _check_exclusions(frame, attention, options)
    return PreparedFrame(frame, dims, systems, info, attention)


def _required_columns(judgments: pd.DataFrame, protocol: str) -> tuple[str, ...]:
    if protocol not in (Protocol.RATING, Protocol.PAIRWISE):
        raise ValueError(f"protocol must be 'rating' or 'pairwise' (got {protocol!r})")
    required = RATING_REQUIRED if protocol == Protocol.RATING else PAIRWISE_REQUIRED
    missing = [c for c in required if c not in judgments.columns]
    if missing:
        raise ValueError(
            f"the judgments frame lacks column(s) {comma_list(missing)} "
            f"(a {protocol} frame needs {comma_list(required)})"
        )
    return required


def _study_dimensions(dimensions: Sequence[dict], protocol: str) -> list[dict]:
    """``[{key, type, level, label}]`` (Likert: ``points`` too, when given), checked against
    the protocol."""
    dims = []
    for d in dimensions:
        key, kind = str(d["key"]), str(d.get("type", ""))
        if kind not in LEVELS:
            raise ValueError(f"dimension {key!r}: unknown type {kind!r}")
        if protocol == Protocol.PAIRWISE and kind != DimensionType.CHOICE:
            raise ValueError(f"dimension {key!r}: pairwise studies use choice dimensions")
        if protocol == Protocol.RATING and kind == DimensionType.CHOICE:
            raise ValueError(f"dimension {key!r}: choice dimensions belong to pairwise studies")
        label = d.get("label")
        label = str(label) if label not in (None, "") else key
        dim = {"key": key, "type": kind, "level": LEVELS[kind], "label": label}
        if kind == DimensionType.LIKERT and d.get("points"):
            dim["points"] = int(d["points"])  # the scale points offered (free-marginal K)
        dims.append(dim)
    return dims


#: The export's ``control`` values that never enter a statistic: gold items and degraded
#: copies are quality-control evidence (``annotation.quality_control`` reads them from the
#: database). Attention checks are split off by ``attention_passed`` instead.
DROPPED_CONTROLS = ("gold", "degraded")


def _without_controls(judgments: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The frame without gold and degraded-control rows, and how many there were."""
    if "control" not in judgments.columns:
        return judgments, 0
    marked = judgments["control"].fillna("").astype(str).isin(DROPPED_CONTROLS)
    return judgments.loc[~marked.to_numpy()], int(marked.sum())


def _canonical_columns(
    judgments: pd.DataFrame, protocol: str, required: tuple[str, ...]
) -> pd.DataFrame:
    """The known columns only, ids as text, and ``_seq``: the input order, to merge the
    attention rows back among the others for annotator quality."""
    keep_cols = [c for c in (*required, *OPTIONAL_COLUMNS) if c in judgments.columns]
    frame = judgments[keep_cols].copy()
    frame["_seq"] = np.arange(len(frame))
    id_cols = ["annotator", "context", "dimension"] + (
        ["system"] if protocol == Protocol.RATING else ["system_a", "system_b"]
    )
    for col in id_cols:
        frame[col] = frame[col].astype(str)
    return frame


def _selected_dimensions(
    frame: pd.DataFrame, dims: list[dict], options: AnalysisOptions
) -> list[dict]:
    """The study's dimensions that ``options.dimensions`` asks for (all by default); every
    judged dimension must be one of the study's."""
    known_dims = [d["key"] for d in dims]
    stray = sorted(set(frame["dimension"].unique()) - set(known_dims))
    if stray:
        raise ValueError(
            f"judgments for dimension(s) {comma_list(stray)} that the study does not define "
            f"(dimensions: {comma_list(known_dims)})"
        )
    if options.dimensions is None:
        return dims
    unknown = [d for d in options.dimensions if d not in known_dims]
    if unknown:
        raise ValueError(
            f"unknown dimension(s) {comma_list(unknown)}; the study has {comma_list(known_dims)}"
        )
    return [d for d in dims if d["key"] in set(options.dimensions)]


def _without_partial_batches(
    frame: pd.DataFrame, options: AnalysisOptions
) -> tuple[pd.DataFrame, int]:
    """Leave out judgments from expired leases (partial batches) unless include_partial;
    return the frame and how many rows came from expired leases."""
    if "assignment_status" not in frame.columns:
        return frame, 0
    partial = frame["assignment_status"].astype(str).eq("expired")
    if not options.include_partial:
        frame = frame.loc[~partial]
    return frame, int(partial.sum())


def _split_attention(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Attention-check rows go out of every statistic, into annotator quality only."""
    if "attention_passed" not in frame.columns:
        return frame, None
    attention = None
    marked = frame["attention_passed"].notna().to_numpy()
    if marked.any():
        attention = frame.loc[marked].copy()
        attention["attention_passed"] = _attention_flags(attention["attention_passed"])
    return frame.loc[~marked], attention


def _numeric_values(values: pd.Series) -> pd.Series:
    """Rating values as float64 (True / False count as 1 / 0)."""
    if values.dtype == object:
        values = values.map(lambda v: float(v) if isinstance(v, bool) else v)
    try:
        return pd.to_numeric(values, errors="raise").astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"rating values must be numbers: {exc}") from None


def _normalised_choices(choices: pd.Series) -> pd.Series:
    """Choices as a / b / tie (any case, surrounding spaces ignored)."""
    choice = choices.astype(str).str.strip().str.lower()
    bad = sorted(set(choice.unique()) - set(CHOICES))
    if bad:
        raise ValueError(f"choices must be a, b or tie (got {comma_list(bad)})")
    return choice


def _rating_values(frame: pd.DataFrame, options: AnalysisOptions) -> pd.DataFrame:
    """Numeric values, unanswered rows dropped, and ``value_z``: per-annotator z-scores per
    dimension, over everything the annotator rated, in the convention ``options.zscore``."""
    frame["value"] = _numeric_values(frame["value"])
    frame = frame.loc[frame["value"].notna()]
    ddof, zero_sd, _ = ZSCORE_CONVENTIONS[options.zscore]
    return st.per_annotator_zscores(
        frame,
        "annotator",
        "value",
        by="dimension",
        ddof=ddof,
        zero_sd=zero_sd,
        out_col="value_z",
    )


def _pairwise_choices(frame: pd.DataFrame) -> pd.DataFrame:
    frame["choice"] = _normalised_choices(frame["choice"])
    if (frame["system_a"] == frame["system_b"]).any():
        raise ValueError("a pairwise judgment compares a system with itself")
    return frame


def _selected_systems(present: list[str], options: AnalysisOptions) -> list[str]:
    """``options.systems`` in their order (all systems with judgments by default)."""
    if options.systems is None:
        return present
    unknown = [s for s in options.systems if s not in present]
    if unknown:
        raise ValueError(
            f"unknown system(s) {comma_list(unknown)}; systems with judgments: "
            f"{comma_list(present)}"
        )
    return list(dict.fromkeys(options.systems))


def _keep_systems_and_dimensions(
    frame: pd.DataFrame, protocol: str, systems: list[str], dims: list[dict]
) -> pd.DataFrame:
    if protocol == Protocol.RATING:
        frame = frame.loc[frame["system"].isin(systems)]
    else:
        frame = frame.loc[frame["system_a"].isin(systems) & frame["system_b"].isin(systems)]
    frame = frame.loc[frame["dimension"].isin([d["key"] for d in dims])]
    return frame.reset_index(drop=True)


def _answered_dimensions(frame: pd.DataFrame, dims: list[dict], info: dict[str, Any]) -> list[dict]:
    """Dimensions the study defines but nobody answered (yet) are left out, and said so
    (``info["dimensions_without_judgments"]``)."""
    answered = set(frame["dimension"].unique())
    info["dimensions_without_judgments"] = [d["key"] for d in dims if d["key"] not in answered]
    if len(frame):
        dims = [d for d in dims if d["key"] in answered]
    return dims


def _check_exclusions(
    frame: pd.DataFrame, attention: pd.DataFrame | None, options: AnalysisOptions
) -> None:
    known_annotators = set(frame["annotator"].unique())
    if attention is not None:
        known_annotators |= set(attention["annotator"].unique())
    unknown = [a for a in options.exclude_annotators if a not in known_annotators]
    if unknown:
        raise ValueError(f"unknown annotator(s) to exclude: {comma_list(unknown)}")


def _attention_flags(values: pd.Series) -> pd.Series:
    """attention_passed as True / False (bools, 1 / 0, or true / false text)."""
    words = {
        "true": True,
        "1": True,
        "1.0": True,
        "yes": True,
        "false": False,
        "0": False,
        "0.0": False,
        "no": False,
    }

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
    if protocol == Protocol.RATING:
        att["value"] = _numeric_values(att["value"])
        att = att.loc[att["value"].notna()]
    else:
        choice = _normalised_choices(att["choice"])
        att["choice"] = choice
        att["recorded_score"] = choice.map(CHOICE_SCORES).astype(np.float64)
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
    swap = {
        Choice.A.value: Choice.B.value,
        Choice.B.value: Choice.A.value,
        Choice.TIE.value: Choice.TIE.value,
    }
    out["choice"] = np.where(flip, frame["choice"].map(swap), frame["choice"])
    out["side_a"] = ~flip
    if "response_length_a" in frame.columns and "response_length_b" in frame.columns:
        la, lb = frame["response_length_a"].to_numpy(), frame["response_length_b"].to_numpy()
        out["response_length_a"] = np.where(flip, lb, la)
        out["response_length_b"] = np.where(flip, la, lb)
    out["score"] = out["choice"].map(CHOICE_SCORES).astype(np.float64)
    # as recorded (first-shown side = +1): what straight-lining checks look at
    out["recorded_score"] = frame["choice"].map(CHOICE_SCORES).astype(np.float64)
    return out


def count_judgments(frame: pd.DataFrame, protocol: str) -> int:
    """Judgments (not judgment x dimension rows) in ``frame``."""
    keys = ["annotator", "context"] + (
        ["system"] if protocol == Protocol.RATING else ["system_a", "system_b"]
    )
    if "batch" in frame.columns:
        keys.append("batch")
    return int(frame[keys].drop_duplicates().shape[0]) if len(frame) else 0
