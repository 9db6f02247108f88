"""Raw judgments in long format: one row per judgment × dimension.

This is the one reader of a study's judgments: `judgment_rows(study)` yields the rows the
export writes, and the analysis frame (`analysis.selectors.judgments_frame`) is made from
the same rows. `long_rows` is pure (plain dicts in, plain dicts out); `judgment_records`
reads the database. Annotator ids are pseudonymised by default with a keyed hash, stable
within an installation, so the same annotator keeps the same pseudonym across exports.

Attention-check judgments are exported like the others (their `system` is
`attention-check`), with `attention_check` = the check's id and `attention_passed` =
whether the whole judgment met the check (true / false; empty on real judgments).
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from core.vocabulary import Protocol

from .dimensions import attention_passed, dimensions_of

if TYPE_CHECKING:
    from .models import Study

LONG_COLUMNS = [
    "judgment_id",
    "study",
    "protocol",
    "annotator",
    "batch",
    "slot",
    "assignment_status",
    "position",
    "block",
    "item",
    "output",
    "context",
    "system",
    "system_left",
    "system_right",
    "dimension",
    "dimension_type",
    "value",
    "preferred_system",
    "rationale",
    "time_on_item_ms",
    "client_submitted_at",
    "server_received_at",
    "attention_check",
    "attention_passed",
]
# what `judgment_records` reads of each judgment, in the order of its values_list
_RECORD_FIELDS = (
    "id",
    "participant__external_id",
    "batch__index",
    "slot__slot_index",
    "assignment__status",
    "position",
    "entry__block_index",
    "item_id",
    "item__output_key",
    "item__context__external_id",
    "item__candidate__system__name",
    "item__candidate_right__system__name",
    "time_on_item_ms",
    "client_submitted_at",
    "server_received_at",
    "item__attention_check_id",
    "item__attention_expect",
    "values",
    "rationales",
)


def pseudonym(external_id: str, study_name: str, salt: str) -> str:
    digest = hmac.new(salt.encode(), f"{study_name}\x00{external_id}".encode(), hashlib.sha256)
    return "a-" + digest.hexdigest()[:12]


def long_rows(records: Iterable[dict], dimensions: list[dict]) -> Iterator[dict]:
    """Expand judgment records (one per judgment) into one row per dimension.

    A record has the keys of LONG_COLUMNS except dimension/dimension_type/value/
    preferred_system/rationale, plus `values` and `rationales` dicts; `attention_check`
    and `attention_passed` may be left out (a real judgment). How an answer is exported
    (its value and preferred system) is its dimension type's rule (`export`).
    """
    objects = dimensions_of(dimensions)
    for record in records:
        base = {k: v for k, v in record.items() if k not in ("values", "rationales")}
        for dim, obj in zip(dimensions, objects, strict=True):
            key = dim["key"]
            if key not in record["values"]:
                continue
            row = dict(base)
            row.update(
                dimension=key,
                dimension_type=dim["type"],
                rationale=record["rationales"].get(key, ""),
                **obj.export(record["values"][key], record["system_left"], record["system_right"]),
            )
            yield {column: row.get(column, "") for column in LONG_COLUMNS}


def write_rows(rows: Iterable[dict], out: IO[str], fmt: str) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=LONG_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
            count += 1
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            count += 1
    else:
        raise ValueError(f"unknown format {fmt!r}: use csv or jsonl")
    return count


def _csv_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def judgment_records(study: Study, *, pseudonymise: bool = True, salt: str = "") -> Iterator[dict]:
    """Read a study's judgments as records for `long_rows`, in the order they were
    recorded (by id), streaming from the database."""
    from .models import Judgment

    queryset = Judgment.objects.filter(study=study).order_by("id").values_list(*_RECORD_FIELDS)
    pairwise = study.protocol == Protocol.PAIRWISE
    names: dict[str, str] = {}  # one keyed hash per annotator, not one per judgment
    for (
        judgment_id,
        external_id,
        batch,
        slot,
        status,
        position,
        block,
        item,
        output,
        context,
        left,
        right,
        ms,
        client_at,
        server_at,
        check,
        expect,
        values,
        rationales,
    ) in queryset.iterator(chunk_size=2000):
        annotator = external_id
        if pseudonymise:
            if external_id not in names:
                names[external_id] = pseudonym(external_id, study.name, salt)
            annotator = names[external_id]
        yield {
            "judgment_id": judgment_id,
            "study": study.name,
            "protocol": study.protocol,
            "annotator": annotator,
            "batch": batch,
            "slot": slot,
            "assignment_status": status,
            "position": position,
            "block": block,
            "item": item,
            "output": output,
            "context": context,
            "system": "" if pairwise else left,
            "system_left": left if pairwise else "",
            "system_right": right or "",
            "time_on_item_ms": ms,
            "client_submitted_at": client_at.isoformat() if client_at else "",
            "server_received_at": server_at.isoformat(),
            "attention_check": check,
            "attention_passed": attention_passed(expect or {}, values) if check else None,
            "values": values,
            "rationales": rationales or {},
        }


def judgment_rows(study: Study, *, pseudonymise: bool = True, salt: str = "") -> Iterator[dict]:
    """A study's judgments as long-format rows (LONG_COLUMNS), in recorded order: what the
    export writes and what the analysis frame is made from."""
    records = judgment_records(study, pseudonymise=pseudonymise, salt=salt)
    return long_rows(records, study.dimensions)


def export_study(
    study: Study, path: Path, fmt: str = "csv", *, pseudonymise: bool = True, salt: str = ""
) -> int:
    """Write the long-format export; the file appears whole or not at all."""
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        count = write_rows(judgment_rows(study, pseudonymise=pseudonymise, salt=salt), out, fmt)
    tmp.replace(path)
    return count
