"""Read judgments from the database into the analysis's canonical long frame.

``judgments_frame(study)`` for studies run here (annotation.models.Judgment) and
``imported_judgments_frame(imported)`` for judgments imported with ``import_judgments``.
The frames are in the order judgments were recorded (by id), which the annotator-quality
diagnostics use as each annotator's working order.

Attention-check judgments are in the frame too, marked by ``attention_passed`` (True /
False; None on real judgments) and ``attention_check`` (the check id; "" on real ones).
``analysis.study_analysis.analyze`` keeps them out of every statistic and uses them only
for annotator quality (pass rate, flags, and so exclusions).
"""

from __future__ import annotations

import pandas as pd
from django.conf import settings

from annotation.answers import attention_passed
from annotation.export import pseudonym

from .judgment_import import rows_to_frame

__all__ = ["judgments_frame", "imported_judgments_frame", "study_dimensions"]

RATING_COLUMNS = [
    "annotator", "context", "system", "dimension", "value", "position", "block", "batch",
    "time_on_item_ms", "response_length", "assignment_status", "attention_passed",
    "attention_check",
]
PAIRWISE_COLUMNS = [
    "annotator", "context", "system_a", "system_b", "dimension", "choice", "position", "block",
    "batch", "time_on_item_ms", "response_length_a", "response_length_b", "assignment_status",
    "attention_passed", "attention_check",
]


def study_dimensions(study) -> list[dict]:
    """``[{key, type, label}]`` of a study (run here or imported); the label is the spec's
    researcher-facing name of the dimension, the key where none is given."""
    return [{"key": d["key"], "type": d["type"], "label": d.get("label") or d["key"]}
            for d in study.dimensions]


def _words(text: str | None) -> int | None:
    return None if text is None else len(text.split())


def _number(value) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if value is None or value == "":
        return None
    return float(value)


def judgments_frame(study, *, pseudonymise: bool = True, salt: str | None = None) -> pd.DataFrame:
    """One row per judgment x answered dimension of ``study`` (an annotation Study).

    Rating: value as float (checkbox 1 / 0). Pairwise: system_a = the left candidate's
    system, system_b = the right one's, choice a / b / tie (a = left preferred).
    response_length is the candidate's length in words (``len(text.split())``);
    assignment_status comes from the judgment's assignment (``expired`` = partial batch);
    attention_passed is True / False on the rows of attention-check judgments (the whole
    judgment met the check or not) and None elsewhere, attention_check the check id.
    Annotators are pseudonymised as in exports unless ``pseudonymise=False``.
    """
    from annotation.models import Judgment

    salt = settings.EXPORT_PSEUDONYM_SALT if salt is None else salt
    pairwise = study.protocol == "pairwise"
    dims = [d["key"] for d in study.dimensions]
    qs = (
        Judgment.objects.filter(study=study)
        .order_by("id")
        .values_list(
            "values", "position", "time_on_item_ms", "participant__external_id",
            "assignment__status", "batch__index", "entry__block_index",
            "item__context__external_id", "item__candidate__system__name",
            "item__candidate__text", "item__candidate_right__system__name",
            "item__candidate_right__text", "item__attention_check_id", "item__attention_expect",
        )
    )
    names: dict[str, str] = {}
    rows = []
    for (values, position, ms, external_id, status, batch, block, context, left, left_text,
         right, right_text, check, expect) in qs.iterator(chunk_size=2000):
        if pseudonymise:
            if external_id not in names:
                names[external_id] = pseudonym(external_id, study.name, salt)
            annotator = names[external_id]
        else:
            annotator = external_id
        base = {
            "annotator": annotator,
            "context": context,
            "position": position,
            "block": block,
            "batch": batch,
            "time_on_item_ms": ms,
            "assignment_status": status,
            "attention_passed": attention_passed(expect or {}, values) if check else None,
            "attention_check": check,
        }
        if pairwise:
            base.update(system_a=left, system_b=right, response_length_a=_words(left_text),
                        response_length_b=_words(right_text))
        else:
            base.update(system=left, response_length=_words(left_text))
        for key in dims:
            if key not in values:
                continue
            row = dict(base, dimension=key)
            if pairwise:
                row["choice"] = str(values[key])
            else:
                row["value"] = _number(values[key])
            rows.append(row)
    columns = PAIRWISE_COLUMNS if pairwise else RATING_COLUMNS
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for col in ("position", "block", "batch", "time_on_item_ms", "response_length",
                "response_length_a", "response_length_b", "value"):
        if col in frame.columns:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


def imported_judgments_frame(imported) -> pd.DataFrame:
    """The canonical frame of an ImportedStudy (optional columns from ``extra``)."""
    rows = imported.judgments.order_by("line", "id").values(
        "annotator", "context", "system", "system_b", "dimension", "value", "choice", "extra"
    )
    return rows_to_frame(imported.protocol, rows.iterator(chunk_size=5000))
