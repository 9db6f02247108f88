"""Raw judgments in long format: one row per judgment × dimension.

This is the one reader of a study's judgments: `judgment_rows(study)` yields the rows the
export writes, and the analysis frame (`analysis.selectors.judgments_frame`) is made from
the same rows. `long_rows` is pure (plain dicts in, plain dicts out); `judgment_records`
reads the database. Annotator ids are pseudonymised by default with a keyed hash, stable
within an installation, so the same annotator keeps the same pseudonym across exports.

The two sides of a pair are `system_a` (shown on the left) and `system_b` (shown on the
right), and a pairwise `value` is the choice: `a` prefers system_a, `b` system_b, or `tie`
(`core.vocabulary.Side` and `Choice`). Exports before this naming called the columns
`system_left` / `system_right`; `analysis.judgment_import` reads both.

Attention-check judgments are exported like the others (their `system` is
`attention-check`), with `attention_check` = the check's id and `attention_passed` =
whether the whole judgment met the check (true / false; empty on real judgments).
`control` names the quality control an item is (`attention`, `gold`, `degraded`; empty on
real judgments): gold items and degraded copies are exported for the record but never
enter the statistics (`analysis.canonical_frame` drops them).

Every stored row exports. `client_submitted_at` is the browser's clock, sent by the page,
and the server's `server_received_at` is the time of record. A client time stored before
the app bounded it can lie outside what a datetime can hold once converted to UTC (a forged
`0001-01-01T00:00:00+14:00` is a date before year 1); the column is read as text, so such a
row still exports, with `client_submitted_at` empty and the stored text in
`client_submitted_at_unreadable` (empty on every other row). The same column carries a
client time the server refused at submit (unreadable, without a time zone, or more than a
day from the server's clock: `Judgment.client_time_refused`), as the browser sent it.

CSV cells that a spreadsheet would run as a formula (text starting with `=`, `+`, `-`, `@`,
a tab or a carriage return) get a leading `'`, as OWASP recommends against CSV injection;
numbers (`-0.5`) are left alone. `escape_formulas=False` writes text as stored, for
analysis pipelines; JSONL is never escaped. The rule is `core.csv_cells`, whose
`unescape_formula` undoes it exactly (`import_judgments` uses it), so an escaped export
re-imports to the original text.

Skipped items (an annotator marked an item distressing: annotation/safety.py) are not
judgments and are not in this export: `skip_rows` / `write_skip_rows` write them as their
own CSV (`SKIP_COLUMNS`; the console's Decisions page offers it), escaped the same way.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from core.csv_cells import escape_formula
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
    "control",
    "context",
    "system",
    "system_a",
    "system_b",
    "dimension",
    "dimension_type",
    "value",
    "preferred_system",
    "rationale",
    "time_on_item_ms",
    "client_submitted_at",
    "client_submitted_at_unreadable",
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
    "item__candidate_b__system__name",
    "time_on_item_ms",
    "client_submitted_text",  # read as text: see _stored_time
    "client_time_refused",
    "server_received_at",
    "item__attention_check_id",
    "item__attention_expect",
    "item__control_kind",
    "values",
    "rationales",
)


def pseudonym(external_id: str, study_name: str, salt: str) -> str:
    digest = hmac.new(salt.encode(), f"{study_name}\x00{external_id}".encode(), hashlib.sha256)
    return "a-" + digest.hexdigest()[:12]


def long_rows(records: Iterable[dict], dimensions: list[dict]) -> Iterator[dict]:
    """Expand judgment records (one per judgment) into one row per dimension.

    A record has the keys of LONG_COLUMNS except dimension/dimension_type/value/
    preferred_system/rationale, plus `values` and `rationales` dicts; `attention_check`,
    `attention_passed` and `client_submitted_at_unreadable` may be left out (a real
    judgment, a readable client time). How an answer is exported
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
                **obj.export(record["values"][key], record["system_a"], record["system_b"]),
            )
            yield {column: row.get(column, "") for column in LONG_COLUMNS}


def write_rows(
    rows: Iterable[dict], out: IO[str], fmt: str, *, escape_formulas: bool = True
) -> int:
    """Write long-format rows as CSV (formula cells escaped unless `escape_formulas` is
    False) or JSONL (never escaped); returns the number of rows."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=LONG_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v, escape_formulas) for k, v in row.items()})
            count += 1
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            count += 1
    else:
        raise ValueError(f"unknown format {fmt!r}: use csv or jsonl")
    return count


def _csv_value(value: Any, escape_formulas: bool) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if escape_formulas and isinstance(value, str):
        return escape_formula(value)
    return value


def _stored_time(text: str | None) -> tuple[str, str]:
    """(ISO 8601 time in UTC, "") from a timestamp column read as text (PostgreSQL:
    `2024-05-01 12:00:00.5+00`; SQLite: `2024-05-01 12:00:00.500000`, UTC), or ("", the
    text) when no datetime can hold it (before year 1 or after 9999 in UTC, `infinity`,
    anything else). Reading the column as text is what keeps one such row from failing
    the whole export: the database driver's conversion raises on it."""
    if not text:
        return "", ""
    try:
        moment = dt.datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)  # SQLite holds UTC without an offset
        return moment.astimezone(dt.UTC).isoformat(), ""
    except (ValueError, OverflowError):
        return "", text


def judgment_records(study: Study, *, pseudonymise: bool = True, salt: str = "") -> Iterator[dict]:
    """Read a study's judgments as records for `long_rows`, in the order they were
    recorded (by id), streaming from the database."""
    from django.db.models import TextField
    from django.db.models.functions import Cast

    from .models import Judgment

    queryset = (
        Judgment.objects.filter(study=study)
        .annotate(client_submitted_text=Cast("client_submitted_at", TextField()))
        .order_by("id")
        .values_list(*_RECORD_FIELDS)
    )
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
        system_a,
        system_b,
        ms,
        client_text,
        refused_time,
        server_at,
        check,
        expect,
        control,
        values,
        rationales,
    ) in queryset.iterator(chunk_size=2000):
        annotator = external_id
        if pseudonymise:
            if external_id not in names:
                names[external_id] = pseudonym(external_id, study.name, salt)
            annotator = names[external_id]
        client_at, client_unreadable = _stored_time(client_text)
        client_unreadable = client_unreadable or refused_time
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
            "control": control or "",
            "context": context,
            "system": "" if pairwise else system_a,
            "system_a": system_a if pairwise else "",
            "system_b": system_b or "",
            "time_on_item_ms": ms,
            "client_submitted_at": client_at,
            "client_submitted_at_unreadable": client_unreadable,
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


@dataclass(frozen=True)
class ExportSummary:
    """What `export_study` wrote: rows, and judgments whose client time was unreadable."""

    rows: int
    unreadable_client_times: int


def export_study(
    study: Study,
    path: Path,
    fmt: str = "csv",
    *,
    pseudonymise: bool = True,
    salt: str = "",
    escape_formulas: bool = True,
) -> ExportSummary:
    """Write the long-format export; the file appears whole or not at all."""
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    unreadable: set[Any] = set()

    def noted(rows: Iterable[dict]) -> Iterator[dict]:
        for row in rows:
            if row["client_submitted_at_unreadable"]:
                unreadable.add(row["judgment_id"])
            yield row

    rows = noted(judgment_rows(study, pseudonymise=pseudonymise, salt=salt))
    with tmp.open("w", encoding="utf-8", newline="") as out:
        count = write_rows(rows, out, fmt, escape_formulas=escape_formulas)
    tmp.replace(path)
    return ExportSummary(count, len(unreadable))


# ------------------------------------------------------------------ skipped items

#: One row per skipped item (``annotation.models.ItemSkip``; annotation/safety.py): its own
#: file, since a skip is not a judgment and has no dimension or value.
SKIP_COLUMNS = [
    "skip_id",
    "study",
    "annotator",
    "batch",
    "slot",
    "position",
    "item",
    "output",
    "control",
    "context",
    "system",
    "system_b",
    "reason",
    "skipped_at",
    "reassigned_to_batch",
]


def skip_rows(study: Study, *, pseudonymise: bool = True, salt: str = "") -> Iterator[dict]:
    """A study's skipped items (SKIP_COLUMNS), in the order they were skipped; annotators
    pseudonymised as in the judgments export unless ``pseudonymise=False``."""
    from .models import ItemSkip

    queryset = (
        ItemSkip.objects.filter(study=study)
        .order_by("id")
        .values_list(
            "id",
            "participant__external_id",
            "assignment__slot__batch__index",
            "assignment__slot__slot_index",
            "entry__position",
            "item_id",
            "item__output_key",
            "item__control_kind",
            "item__context__external_id",
            "item__candidate__system__name",
            "item__candidate_b__system__name",
            "reason",
            "skipped_at",
            "reassigned_to__index",
        )
    )
    names: dict[str, str] = {}
    for row in queryset.iterator(chunk_size=2000):
        (skip_id, external_id, batch, slot, position, item, output, control, context) = row[:9]
        system_a, system_b, reason, skipped_at, reassigned = row[9:]
        annotator = external_id
        if pseudonymise:
            if external_id not in names:
                names[external_id] = pseudonym(external_id, study.name, salt)
            annotator = names[external_id]
        yield {
            "skip_id": skip_id,
            "study": study.name,
            "annotator": annotator,
            "batch": batch,
            "slot": slot,
            "position": position,
            "item": item,
            "output": output,
            "control": control or "",
            "context": context,
            "system": system_a,
            "system_b": system_b or "",
            "reason": reason,
            "skipped_at": skipped_at.isoformat(),
            "reassigned_to_batch": reassigned,
        }


def write_skip_rows(rows: Iterable[dict], out: IO[str], *, escape_formulas: bool = True) -> int:
    """Write skip rows as CSV, formula cells escaped as in the judgments export."""
    writer = csv.DictWriter(out, fieldnames=SKIP_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({k: _csv_value(v, escape_formulas) for k, v in row.items()})
        count += 1
    return count
