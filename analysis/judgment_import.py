"""Parse judgments collected elsewhere (CSV / TSV) into the analysis's long format. Pure.

Long format, one row per judgment x dimension (header names, case-insensitive):

* rating:   ``annotator, item, system, dimension, value``
* pairwise: ``annotator, item, system_a, system_b, dimension, choice`` (a = system_a
  preferred, b, tie; case-insensitive)

``item`` names the dialogue context (``context`` is accepted too). Optional columns:
``position, block, batch, time_on_item_ms, response_length`` (pairwise:
``response_length_a, response_length_b``). Other columns are ignored.

Wide format: ``wide_dimensions=["empathy", "fluency"]`` reads one column per dimension
(the cell is the value / choice; an empty cell is an unanswered dimension) instead of the
``dimension`` and ``value`` / ``choice`` columns.

``mapping={"worker": "annotator", "score": "value"}`` renames source columns to these
fields first. Every problem is reported as ``line N: column: reason`` (line 1 is the
header; ``import_judgments`` puts the file's name in front) and the caller imports nothing
unless the whole file is clean.

A file written by ``manage.py export_judgments`` is recognised by its header and read as
such: its ``context`` is the item, ``system_a`` / ``system_b`` the pair (A was shown on the
left) and a pairwise ``value`` the choice; attention-check rows and rows from expired
leases are left out (counted in ``skipped``). Exports of earlier versions, whose pair
columns were ``system_left`` / ``system_right``, are read the same way. Cells that the
export escaped for spreadsheets (a leading ``'``, see ``core.csv_cells``) are read back
as the original text.

Bad input is refused, never half-read: a file over ``MAX_FILE_BYTES`` (200 MB) or a line
over ``MAX_LINE_BYTES`` (1 MB) (``/dev/zero`` or a 1 GB line fails after reading at most
that much), bytes that are not UTF-8 (an encoded surrogate included), and cells with a
NUL character or a lone surrogate, each with its line and column. Numbers are read
strictly (``core.csv_cells.strict_number``): fullwidth digits, ``1_0``, ``1e-400``
(which ``float()`` turns into 0), ``nan`` and ``inf`` are not numbers.

Dimension types (which set Krippendorff's alpha level) are inferred unless given: only
0/1 (or true/false) -> checkbox; whole numbers 1..10 with at most 10 distinct values ->
likert; other numbers -> slider; pairwise -> choice.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

import pandas as pd

from core.csv_cells import strict_number, unescape_formula
from core.source_map import read_map_item
from core.vocabulary import Choice, DimensionType, Protocol

from .canonical_frame import DROPPED_CONTROLS, OPTIONAL_NUMERIC
from .judgment_file import (
    MAX_FILE_BYTES,
    Unreadable,
    character_problems,
    column_name,
    lines,
    megabytes,
    open_source,
)

__all__ = [
    "ParsedJudgments",
    "parse_judgments",
    "FIELDS",
    "parse_mapping",
    "read_mapping",
    "infer_type",
]

REQUIRED: dict[str, tuple[str, ...]] = {
    Protocol.RATING: ("annotator", "item", "system", "dimension", "value"),
    Protocol.PAIRWISE: ("annotator", "item", "system_a", "system_b", "dimension", "choice"),
}
FIELDS = tuple(
    dict.fromkeys(
        (*REQUIRED[Protocol.RATING], *REQUIRED[Protocol.PAIRWISE], "context", *OPTIONAL_NUMERIC)
    )
)
RATING_TYPES = (DimensionType.SLIDER, DimensionType.LIKERT, DimensionType.CHECKBOX)
# Columns that mark a file written by `manage.py export_judgments`, with its pair columns:
# system_a / system_b now, system_left / system_right in exports of earlier versions.
EVALSITE_EXPORT_COLUMNS = {"judgment_id", "output", "dimension_type", "assignment_status"}
EXPORT_PAIR_COLUMNS = (("system_a", "system_b"), ("system_left", "system_right"))
_TRUE = {"true", "yes", "y", "on"}
_FALSE = {"false", "no", "n", "off"}
_CHOICES = {c.value: c.value for c in Choice}
MAX_LEN = {
    "annotator": 200,
    "item": 200,
    "system": 120,
    "system_a": 120,
    "system_b": 120,
    "dimension": 120,
}


@dataclass
class ParsedJudgments:
    """Result of :func:`parse_judgments`: canonical rows, dimensions and problems."""

    protocol: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    dimensions: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # rows left out on purpose, by reason (e.g. attention checks in an evalsite export)
    skipped: dict[str, int] = field(default_factory=dict)
    source_format: str = "long"  # "long" | "wide" | "evalsite_export"

    @property
    def ok(self) -> bool:
        return not self.errors

    def frame(self) -> pd.DataFrame:
        """The canonical analysis frame (see analysis/README.md)."""
        return rows_to_frame(self.protocol, self.rows)


def rows_to_frame(protocol: str, rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Canonical analysis frame from canonical rows (``context, system, system_b, value,
    choice, extra``)."""
    records = []
    for r in rows:
        rec: dict[str, Any] = {"annotator": r["annotator"], "context": r["context"]}
        if protocol == Protocol.RATING:
            rec.update(system=r["system"], dimension=r["dimension"], value=r["value"])
        else:
            rec.update(
                system_a=r["system"],
                system_b=r["system_b"],
                dimension=r["dimension"],
                choice=r["choice"],
            )
        rec.update(r.get("extra") or {})
        records.append(rec)
    base = (
        ["annotator", "context", "system", "dimension", "value"]
        if protocol == Protocol.RATING
        else ["annotator", "context", "system_a", "system_b", "dimension", "choice"]
    )
    frame = pd.DataFrame.from_records(records)
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in base})
    extra = [c for c in OPTIONAL_NUMERIC if c in frame.columns]
    return frame[base + extra]


def read_mapping(items: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """``["col=field", ...]`` (``--map SOURCE=FIELD``, items may be comma-separated) ->
    ``({"col": "field"}, deprecation messages)``; raises ValueError naming bad items.

    The order ``field=col`` is still read where unambiguous (see ``core.source_map``)."""
    out: dict[str, str] = {}
    notes: list[str] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            read = read_map_item(part, FIELDS)
            if read is None:
                fld = part.partition("=")[2].strip()
                raise ValueError(
                    f"--map {part!r}: unknown field {fld!r} (fields: {', '.join(FIELDS)})"
                )
            if read.deprecation:
                notes.append(read.deprecation)
            out[read.source] = read.field
    return out, notes


def parse_mapping(items: Iterable[str]) -> dict[str, str]:
    """``["col=field", ...]`` -> ``{"col": "field"}`` (see :func:`read_mapping`)."""
    return read_mapping(items)[0]


def infer_type(values: Iterable[float]) -> str:
    vals = {float(v) for v in values if v is not None and not math.isnan(float(v))}
    if vals and vals <= {0.0, 1.0}:
        return DimensionType.CHECKBOX.value
    if vals and all(v.is_integer() and 1 <= v <= 10 for v in vals) and len(vals) <= 10:
        return DimensionType.LIKERT.value
    return DimensionType.SLIDER.value


def parse_judgments(
    source: str | Path | TextIO,
    *,
    protocol: str = "rating",
    mapping: Mapping[str, str] | None = None,
    wide_dimensions: Iterable[str] | None = None,
    dimension_types: Mapping[str, str] | None = None,
    delimiter: str | None = None,
) -> ParsedJudgments:
    """Parse a CSV file (a path, or an open text file such as ``io.StringIO(text)``).

    Nothing is raised for bad data: problems are collected in ``errors`` with their line
    numbers. ``delimiter`` defaults to a tab for ``.tsv`` paths and a comma otherwise.
    """
    result = ParsedJudgments(protocol=protocol)
    if protocol not in REQUIRED:
        result.errors.append(f"protocol must be rating or pairwise, not {protocol!r}")
        return result
    if delimiter is None:
        is_tsv = isinstance(source, str | Path) and str(source).lower().endswith(".tsv")
        delimiter = "\t" if is_tsv else ","
    wide = [w.strip() for w in (wide_dimensions or []) if w.strip()]
    mapping = {str(k).strip().lower(): v for k, v in (mapping or {}).items()}
    if isinstance(source, str | Path) and os.path.getsize(source) > MAX_FILE_BYTES:
        result.errors.append(
            f"the file is larger than {megabytes(MAX_FILE_BYTES)} (MAX_FILE_BYTES); "
            "split it or import a part"
        )
        return result
    handle, close = open_source(source)
    try:
        _parse(handle, result, protocol, mapping, wide, dict(dimension_types or {}), delimiter)
    except csv.Error as exc:
        result.errors.append(f"CSV error: {exc}")
    finally:
        if close:
            handle.close()
    return result


# one answer read: (dimension, value for a rating, choice for a pair)
_Parsed = tuple[str, float | None, str]


@dataclass
class _Header:
    """What the header row says: which column holds which field, and how to read rows."""

    width: int
    names: list[str]
    pos: dict[str, int]  # field -> column index
    wide_pos: list[tuple[str, int]]  # wide dimension -> column index
    export: bool  # an evalsite export (``export_judgments``)
    attention_at: int | None = None
    control_at: int | None = None
    status_at: int | None = None


@dataclass
class _Seen:
    """What the rows read so far tell the later ones (duplicates) and the type inference."""

    dim_order: list[str]
    lines: dict[tuple, int] = field(default_factory=dict)  # judgment key -> first line
    raw_values: dict[str, list[float]] = field(default_factory=dict)
    truthy: dict[str, bool] = field(default_factory=dict)  # dimensions answered true / false


def _parse(
    handle: IO[bytes] | TextIO,
    result: ParsedJudgments,
    protocol: str,
    mapping: Mapping[str, str],
    wide: list[str],
    types: dict[str, str],
    delimiter: str,
) -> None:
    reader = csv.reader(lines(handle), delimiter=delimiter)
    header: _Header | None = None
    try:
        try:
            header_row = next(reader)
        except StopIteration:
            result.errors.append("line 1: the file is empty (expected a header row)")
            return
        header = _read_header(header_row, result, protocol, mapping, wide)
        if header is None:
            return
        seen = _Seen(dim_order=list(wide))
        for record in reader:
            _read_row(record, reader.line_num, header, result, protocol, wide, seen)
    except Unreadable as bad:
        result.errors.append(_unreadable_text(bad, header, delimiter))
        return
    if not result.rows and not result.errors:
        result.errors.append("no judgments found below the header")
    _check_dimension_types(types, seen.dim_order, protocol, result)
    result.dimensions = _dimensions(result, protocol, types, seen)


def _unreadable_text(bad: Unreadable, header: _Header | None, delimiter: str) -> str:
    """``line N: column: reason`` for a line that could not be read (no column when the
    header is not read yet or the problem is the whole line)."""
    if header is None or bad.before is None:
        return f"line {bad.line}: {bad.reason}"
    index = len(next(csv.reader([bad.before], delimiter=delimiter), [""])) - 1
    return f"line {bad.line}: {column_name(header.names, index)}: {bad.reason}"


def _read_header(
    header_row: list[str],
    result: ParsedJudgments,
    protocol: str,
    mapping: Mapping[str, str],
    wide: list[str],
) -> _Header | None:
    """The header's layout, or None (with the problems in ``result.errors``)."""
    names = [h.strip().lower() for h in header_row]
    bad = character_problems(names, [f"column {i + 1}" for i in range(len(names))])
    if bad:
        result.errors.append("line 1: " + "; ".join(f"header {p}" for p in bad))
        return None
    pair = next((p for p in EXPORT_PAIR_COLUMNS if set(p) <= set(names)), None)
    export = not mapping and not wide and pair is not None and EVALSITE_EXPORT_COLUMNS <= set(names)
    if export and pair is not None:
        # evalsite's own export (`export_judgments`): the context is the item, the pair's
        # columns (system_left / system_right in earlier exports) are system_a / system_b
        # and a pairwise value is the choice.
        result.source_format = "evalsite_export"
        mapping = {"item": "evalsite_item_id", "context": "item"}
        if protocol == Protocol.PAIRWISE:
            mapping.update({pair[0]: "system_a", pair[1]: "system_b", "value": "choice"})
    elif wide:
        result.source_format = "wide"
    fields = []
    for n in names:
        f = mapping.get(n, n)
        fields.append("item" if f == "context" else f)
    result.errors.extend(_header_problems(names, fields, protocol, mapping, wide))
    if result.errors:
        return None
    header = _Header(
        width=len(header_row),
        names=names,
        pos={f: i for i, f in enumerate(fields) if f in FIELDS},
        wide_pos=[(w, names.index(w.lower())) for w in wide],
        export=export,
    )
    if export:
        header.attention_at = names.index("attention_check") if "attention_check" in names else None
        header.control_at = names.index("control") if "control" in names else None
        header.status_at = names.index("assignment_status")
    return header


def _header_problems(
    names: list[str],
    fields: list[str],
    protocol: str,
    mapping: Mapping[str, str],
    wide: list[str],
) -> list[str]:
    problems = []
    missing_maps = sorted(set(mapping) - set(names))
    if missing_maps:
        problems.append(
            f"line 1: --map names column(s) {', '.join(missing_maps)} that the header lacks "
            f"(header: {', '.join(names)})"
        )
    missing_wide = [w for w in wide if w.lower() not in names]
    if missing_wide:
        problems.append(
            f"line 1: --wide-dimensions column(s) {', '.join(missing_wide)} not in the header"
        )
    required = [
        r for r in REQUIRED[protocol] if not (wide and r in ("dimension", "value", "choice"))
    ]
    missing = [r for r in required if r not in fields]
    if missing:
        problems.append(
            f"line 1: missing column(s) {', '.join(missing)} for a {protocol} file "
            f"(header: {', '.join(names)}; use --map source=field to rename)"
        )
    dupes = sorted({f for f in fields if fields.count(f) > 1 and f in FIELDS})
    if dupes:
        problems.append(f"line 1: more than one column for {', '.join(dupes)}")
    return problems


def _read_row(
    record: list[str],
    line: int,
    header: _Header,
    result: ParsedJudgments,
    protocol: str,
    wide: list[str],
    seen: _Seen,
) -> None:
    """Read one row into ``result.rows``, or its problems into ``result.errors``."""
    if not any(cell.strip() for cell in record):
        return  # blank line
    bad = character_problems(record, header.names)
    if bad:
        result.errors.append(f"line {line}: " + "; ".join(bad))
        return
    if header.export:
        record = [unescape_formula(cell) for cell in record]
    if header.export and len(record) == header.width:
        reason = _export_skip_reason(record, header)
        if reason:
            result.skipped[reason] = result.skipped.get(reason, 0) + 1
            return
    if len(record) != header.width:
        result.errors.append(f"line {line}: {len(record)} fields, the header has {header.width}")
        return
    cell = {f: record[i].strip() for f, i in header.pos.items()}
    problems = _identity_problems(cell, protocol)
    extra = _optional_numbers(cell, problems)
    if wide:
        answers = [(w, record[i].strip()) for w, i in header.wide_pos]
        answers = [(w, a) for w, a in answers if a != ""]
    else:
        answers = _long_answer(cell, protocol, problems)
    parsed = _parsed_answers(answers, protocol, problems, seen)
    if problems:
        result.errors.append(f"line {line}: " + "; ".join(problems))
        return
    _add_rows(parsed, cell, extra, line, result, protocol, seen)


def _export_skip_reason(record: list[str], header: _Header) -> str:
    """Why a row of an evalsite export is left out on purpose ("" when it is not)."""
    if header.attention_at is not None and record[header.attention_at].strip():
        return "attention-check rows"
    if header.control_at is not None and record[header.control_at].strip() in DROPPED_CONTROLS:
        return "quality-control rows (gold items, degraded copies)"
    if header.status_at is not None and record[header.status_at].strip() == "expired":
        return "rows from expired leases (partial batches)"
    return ""


def _identity_problems(cell: dict[str, str], protocol: str) -> list[str]:
    """Who judged what: annotator, item and system(s) present, not too long, two systems."""
    problems = []
    for f in (
        "annotator",
        "item",
        *(("system",) if protocol == Protocol.RATING else ("system_a", "system_b")),
    ):
        if not cell.get(f):
            problems.append(f"{f} is empty")
        elif len(cell[f]) > MAX_LEN[f]:
            problems.append(f"{f} is longer than {MAX_LEN[f]} characters")
    if (
        protocol == Protocol.PAIRWISE
        and cell.get("system_a")
        and cell.get("system_a") == cell.get("system_b")
    ):
        problems.append(f"system_a and system_b are both {cell['system_a']!r}")
    return problems


def _optional_numbers(cell: dict[str, str], problems: list[str]) -> dict[str, float]:
    """The optional numeric columns that are filled in (problems appended for bad ones)."""
    extra: dict[str, float] = {}
    for f in OPTIONAL_NUMERIC:
        if f in cell and cell[f] != "":
            v = strict_number(cell[f])
            if v is None:
                problems.append(f"{f} {cell[f]!r} is not a number")
            else:
                extra[f] = v
    return extra


def _long_answer(cell: dict[str, str], protocol: str, problems: list[str]) -> list[tuple[str, str]]:
    """A long-format row's (dimension, answer), or nothing when either is missing."""
    dim = cell.get("dimension", "")
    if not dim:
        problems.append("dimension is empty")
    elif len(dim) > MAX_LEN["dimension"]:
        problems.append(f"dimension is longer than {MAX_LEN['dimension']} characters")
    column = "value" if protocol == Protocol.RATING else "choice"
    answer = cell.get(column, "")
    if answer == "":
        problems.append(column + " is empty")
    return [(dim, answer)] if dim and answer != "" else []


def _rating_value(answer: str) -> tuple[float | None, bool]:
    """A rating cell as a number (true / false words as 1 / 0), and whether it was such a
    word. The value rules of imported ratings live here and in :func:`_choice`."""
    low = answer.lower()
    if low in _TRUE or low in _FALSE:
        return (1.0 if low in _TRUE else 0.0), True
    return strict_number(answer), False


def _choice(answer: str) -> str | None:
    """A pairwise cell as a / b / tie (any case), or None."""
    return _CHOICES.get(answer.lower())


def _parsed_answers(
    answers: list[tuple[str, str]], protocol: str, problems: list[str], seen: _Seen
) -> list[_Parsed]:
    """(dimension, value, choice) per answer; problems appended for unreadable ones."""
    parsed: list[_Parsed] = []
    for dim, answer in answers:
        if protocol == Protocol.RATING:
            v, word = _rating_value(answer)
            if word:
                seen.truthy[dim] = True
            if v is None:
                problems.append(f"{dim}: value {answer!r} is not a number")
                continue
            parsed.append((dim, v, ""))
        else:
            choice = _choice(answer)
            if choice is None:
                problems.append(f"{dim}: choice {answer!r} is not a, b or tie")
                continue
            parsed.append((dim, None, choice))
    return parsed


def _add_rows(
    parsed: list[_Parsed],
    cell: dict[str, str],
    extra: dict[str, float],
    line: int,
    result: ParsedJudgments,
    protocol: str,
    seen: _Seen,
) -> None:
    """One canonical row per answer; a second answer to the same judgment and dimension is
    an error naming the line of the first."""
    for dim, value, choice in parsed:
        key: tuple[str, ...]
        if protocol == Protocol.RATING:
            key = (cell["annotator"], cell["item"], cell["system"], dim)
        else:
            key = (
                cell["annotator"],
                cell["item"],
                *sorted((cell["system_a"], cell["system_b"])),
                dim,
            )
        if key in seen.lines:
            result.errors.append(
                f"line {line}: duplicate of line {seen.lines[key]} (same annotator, item, "
                f"system{'s' if protocol == Protocol.PAIRWISE else ''} and dimension {dim!r})"
            )
            continue
        seen.lines[key] = line
        if dim not in seen.dim_order:
            seen.dim_order.append(dim)
        if value is not None:
            seen.raw_values.setdefault(dim, []).append(value)
        result.rows.append(
            {
                "line": line,
                "annotator": cell["annotator"],
                "context": cell["item"],
                "system": cell["system"] if protocol == Protocol.RATING else cell["system_a"],
                "system_b": "" if protocol == Protocol.RATING else cell["system_b"],
                "dimension": dim,
                "value": value,
                "choice": choice,
                "extra": dict(extra),
            }
        )


def _check_dimension_types(
    types: Mapping[str, str], dim_order: list[str], protocol: str, result: ParsedJudgments
) -> None:
    for key, kind in types.items():
        if key not in dim_order:
            result.errors.append(
                f"--dimension-type {key}={kind}: no judgments for dimension {key!r}"
            )
        allowed = RATING_TYPES if protocol == Protocol.RATING else (DimensionType.CHOICE,)
        if kind not in allowed:
            result.errors.append(
                f"--dimension-type {key}={kind}: a {protocol} dimension is one of {', '.join(allowed)}"
            )


def _dimensions(
    result: ParsedJudgments, protocol: str, types: Mapping[str, str], seen: _Seen
) -> list[dict[str, str]]:
    """``[{key, type}]`` of the dimensions with judgments, in the order first seen; the
    type given, else inferred (see the module docstring)."""
    dims = []
    used = {r["dimension"] for r in result.rows}
    for key in seen.dim_order:
        if key not in used:
            continue
        if protocol == Protocol.PAIRWISE:
            kind = DimensionType.CHOICE.value
        elif key in types:
            kind = types[key]
        elif seen.truthy.get(key):
            kind = DimensionType.CHECKBOX.value
        else:
            kind = infer_type(seen.raw_values.get(key, []))
        dims.append({"key": key, "type": kind})
    return dims
