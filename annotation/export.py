"""Raw judgments in long format: one row per judgment × dimension.

`long_rows` is pure (plain dicts in, plain dicts out); `judgment_records` reads the
database. Annotator ids are pseudonymised by default with a keyed hash, stable within an
installation, so the same annotator keeps the same pseudonym across exports.

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
from typing import IO

from .answers import attention_passed

LONG_COLUMNS = [
    "judgment_id", "study", "protocol", "annotator", "batch", "slot", "assignment_status",
    "position", "block", "item", "output", "context", "system", "system_left", "system_right",
    "dimension", "dimension_type", "value", "preferred_system", "rationale", "time_on_item_ms",
    "client_submitted_at", "server_received_at", "attention_check", "attention_passed",
]


def pseudonym(external_id: str, study_name: str, salt: str) -> str:
    digest = hmac.new(salt.encode(), f"{study_name}\x00{external_id}".encode(), hashlib.sha256)
    return "a-" + digest.hexdigest()[:12]


def long_rows(records: Iterable[dict], dimensions: list[dict]) -> Iterator[dict]:
    """Expand judgment records (one per judgment) into one row per dimension.

    A record has the keys of LONG_COLUMNS except dimension/dimension_type/value/
    preferred_system/rationale, plus `values` and `rationales` dicts; `attention_check`
    and `attention_passed` may be left out (a real judgment).
    """
    for record in records:
        base = {k: v for k, v in record.items() if k not in ("values", "rationales")}
        for dim in dimensions:
            key = dim["key"]
            if key not in record["values"]:
                continue
            value = record["values"][key]
            preferred = ""
            if dim["type"] == "choice":
                preferred = {"a": record["system_left"], "b": record["system_right"]}.get(value, "tie")
            row = dict(base)
            row.update(
                dimension=key,
                dimension_type=dim["type"],
                value=value,
                preferred_system=preferred,
                rationale=record["rationales"].get(key, ""),
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


def _csv_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def judgment_records(study, *, pseudonymise: bool = True, salt: str = "") -> Iterator[dict]:
    """Read a study's judgments as records for `long_rows` (streams from the database)."""
    from .models import Judgment

    queryset = (
        Judgment.objects.filter(study=study)
        .select_related(
            "participant", "assignment", "batch", "slot", "entry", "item__context",
            "item__candidate__system", "item__candidate_right__system",
        )
        .order_by("id")
    )
    pairwise = study.protocol == "pairwise"
    for j in queryset.iterator(chunk_size=2000):
        check = j.item.attention_check_id
        passed = attention_passed(j.item.attention_expect or {}, j.values) if check else None
        annotator = j.participant.external_id
        if pseudonymise:
            annotator = pseudonym(annotator, study.name, salt)
        left = j.item.candidate.system.name
        right = j.item.candidate_right.system.name if j.item.candidate_right_id else ""
        yield {
            "judgment_id": j.id,
            "study": study.name,
            "protocol": study.protocol,
            "annotator": annotator,
            "batch": j.batch.index,
            "slot": j.slot.slot_index,
            "assignment_status": j.assignment.status,
            "position": j.position,
            "block": j.entry.block_index,
            "item": j.item_id,
            "output": j.item.output_key,
            "context": j.item.context.external_id,
            "system": "" if pairwise else left,
            "system_left": left if pairwise else "",
            "system_right": right,
            "time_on_item_ms": j.time_on_item_ms,
            "client_submitted_at": j.client_submitted_at.isoformat() if j.client_submitted_at else "",
            "server_received_at": j.server_received_at.isoformat(),
            "attention_check": check,
            "attention_passed": passed,
            "values": j.values,
            "rationales": j.rationales or {},
        }


def export_study(study, path: Path, fmt: str = "csv", *, pseudonymise: bool = True, salt: str = "") -> int:
    """Write the long-format export; the file appears whole or not at all."""
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", encoding="utf-8", newline="") as out:
        count = write_rows(
            long_rows(judgment_records(study, pseudonymise=pseudonymise, salt=salt), study.dimensions),
            out,
            fmt,
        )
    tmp.replace(path)
    return count
