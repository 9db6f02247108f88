"""Read judgments from the database into the analysis's canonical long frame.

``judgments_frame(study)`` for studies run here (annotation.models.Judgment) and
``imported_judgments_frame(imported)`` for judgments imported with ``import_judgments``.
The frames are in the order judgments were recorded (by id), which the annotator-quality
diagnostics use as each annotator's working order.

A study run here is read once, by ``annotation.export.judgment_rows``: the frame is made
from the rows the export writes (pseudonyms, ``attention_passed`` and assignment status
included), plus each item's response lengths, which the export does not carry.

Attention-check judgments are in the frame too, marked by ``attention_passed`` (True /
False; None on real judgments) and ``attention_check`` (the check id; "" on real ones).
``analysis.study_analysis.analyze`` keeps them out of every statistic and uses them only
for annotator quality (pass rate, flags, and so exclusions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
from django.conf import settings

from annotation.export import judgment_rows
from core.vocabulary import DimensionType, Protocol

from .canonical_frame import OPTIONAL_NUMERIC
from .judgment_import import rows_to_frame

if TYPE_CHECKING:
    from annotation.models import Study

    from .models import ImportedStudy

__all__ = ["judgments_frame", "imported_judgments_frame", "study_dimensions", "export_rows_frame"]

RATING_COLUMNS = [
    "annotator",
    "context",
    "system",
    "dimension",
    "value",
    "position",
    "block",
    "batch",
    "time_on_item_ms",
    "response_length",
    "assignment_status",
    "attention_passed",
    "attention_check",
    "control",
]
PAIRWISE_COLUMNS = [
    "annotator",
    "context",
    "system_a",
    "system_b",
    "dimension",
    "choice",
    "position",
    "block",
    "batch",
    "time_on_item_ms",
    "response_length_a",
    "response_length_b",
    "assignment_status",
    "attention_passed",
    "attention_check",
    "control",
]
# export columns that the frame keeps under the same name
_SHARED_COLUMNS = (
    "annotator",
    "context",
    "dimension",
    "position",
    "block",
    "batch",
    "time_on_item_ms",
    "assignment_status",
    "attention_passed",
    "attention_check",
)
_NUMERIC_COLUMNS = (*OPTIONAL_NUMERIC, "value")


def study_dimensions(study: Study | ImportedStudy) -> list[dict]:
    """``[{key, type, label}]`` of a study (run here or imported); the label is the spec's
    researcher-facing name of the dimension, the key where none is given. Likert dimensions
    also carry ``points`` when the spec says how many (the categories offered, the K of the
    free-marginal kappa)."""
    out = []
    for d in study.dimensions:
        dim = {"key": d["key"], "type": d["type"], "label": d.get("label") or d["key"]}
        if d["type"] == DimensionType.LIKERT and d.get("points"):
            dim["points"] = int(d["points"])
        out.append(dim)
    return out


def _words(text: str | None) -> int | None:
    return None if text is None else len(text.split())


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if value is None or value == "":
        return None
    return float(value)


def export_rows_frame(
    rows: Iterable[Mapping[str, Any]],
    protocol: str,
    response_lengths: Mapping[Any, tuple[int | None, int | None]],
) -> pd.DataFrame:
    """The canonical frame from long-format export rows (``annotation.export.LONG_COLUMNS``).

    Rating: value as float (checkbox 1 / 0). Pairwise: system_a and system_b as exported
    (A was shown on the left, B on the right), choice a / b / tie (a = A preferred).
    ``response_lengths`` maps an export row's ``item`` to the lengths in words of its
    response A (the rated one) and B. Pure.
    """
    pairwise = protocol == Protocol.PAIRWISE
    records = []
    for row in rows:
        record = {column: row[column] for column in _SHARED_COLUMNS}
        record["control"] = row.get("control", "")  # gold / degraded: dropped by prepare_frame
        length_a, length_b = response_lengths.get(row["item"], (None, None))
        if pairwise:
            record.update(
                system_a=row["system_a"],
                system_b=row["system_b"],
                choice=str(row["value"]),
                response_length_a=length_a,
                response_length_b=length_b,
            )
        else:
            record.update(
                system=row["system"], value=_number(row["value"]), response_length=length_a
            )
        records.append(record)
    frame = pd.DataFrame.from_records(
        records, columns=PAIRWISE_COLUMNS if pairwise else RATING_COLUMNS
    )
    for col in _NUMERIC_COLUMNS:
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def _response_lengths(study: Study) -> dict[int, tuple[int | None, int | None]]:
    """Item id -> lengths in words (``len(text.split())``) of its candidate (A) and
    candidate_b (B; None for ratings)."""
    from annotation.models import Item

    items = Item.objects.filter(study=study).values_list(
        "id", "candidate__text", "candidate_b__text"
    )
    return {item: (_words(a), _words(b)) for item, a, b in items.iterator(chunk_size=2000)}


def judgments_frame(
    study: Study, *, pseudonymise: bool = True, salt: str | None = None
) -> pd.DataFrame:
    """One row per judgment x answered dimension of ``study`` (an annotation Study), made
    from the export's rows (see :func:`export_rows_frame`).

    response_length is the candidate's length in words; assignment_status comes from the
    judgment's assignment (``expired`` = partial batch); attention_passed is True / False
    on the rows of attention-check judgments (the whole judgment met the check or not) and
    None elsewhere, attention_check the check id. Annotators are pseudonymised as in
    exports unless ``pseudonymise=False``.
    """
    salt = settings.EXPORT_PSEUDONYM_SALT if salt is None else salt
    rows = judgment_rows(study, pseudonymise=pseudonymise, salt=salt)
    return export_rows_frame(rows, study.protocol, _response_lengths(study))


def imported_judgments_frame(imported: ImportedStudy) -> pd.DataFrame:
    """The canonical frame of an ImportedStudy (optional columns from ``extra``)."""
    rows = imported.judgments.order_by("line", "id").values(
        "annotator", "context", "system", "system_b", "dimension", "value", "choice", "extra"
    )
    return rows_to_frame(imported.protocol, rows.iterator(chunk_size=5000))
