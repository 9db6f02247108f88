"""Generic CSV and JSON Lines files, described by a column mapping.

One row (or one JSON object) is one context. The mapping options are plain strings so
a command line can pass them (``import_dataset --map SOURCE=FIELD`` for a column,
``--map OPTION=VALUE`` for a setting; ``COLUMN_OPTIONS`` are the options naming a column):

``turns``          required. One column holding the turns: a JSON list of strings or of
                   ``{"speaker"/"role", "text"/"content"}`` objects, or plain text split by
                   ``turn_separator`` (one turn if the separator is unset or absent); or a
                   comma-separated list of columns, one turn each (empty cells skipped).
``turn_separator`` split a text column into turns, e.g. ``\\n`` or ``__eou__``
                   (the escapes ``\\n``, ``\\t``, ``\\r`` are understood).
``speakers``       a column holding the speaker of each turn (a JSON list, or text split by
                   ``turn_separator`` if it occurs, else by commas); as many as turns.
``speaker_names``  comma-separated names given to turns in turn, cycling (default ``A,B``),
                   for turns with no speaker of their own.
``reference``      the column holding the reference response (optional; empty -> None).
``id``             the column holding the context id (default: the 1-based record number).
``metadata``       comma-separated columns copied into metadata under their own names.
``delimiter``      CSV only: the field delimiter (default ``,``; ``\\t`` or ``tab`` for TSV).

JSON Lines keys may be dotted paths into nested objects (``prompt.text``). A file that
starts with ``[`` is read as a JSON array of such objects, streamed element by element.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from .base import (
    ImportedContext,
    ImportOptionError,
    OnSkip,
    SeenKeys,
    Source,
    Turn,
    clip,
    describe_first_line,
    json_array_items,
    json_lines,
)

#: The options that name a source column (``--map SOURCE=FIELD``); the others are settings.
COLUMN_OPTIONS = ("turns", "id", "speakers", "reference", "metadata")

MISSING: Any = object()
SPEAKER_KEYS = ("speaker", "role", "name")
TEXT_KEYS = ("text", "content", "utterance")


@dataclass(frozen=True)
class ColumnMapping:
    """Which column means what (validated options of the csv/jsonl importers)."""

    turns: tuple[str, ...]
    id: str | None = None
    speakers: str | None = None
    speaker_names: tuple[str, ...] = ("A", "B")
    reference: str | None = None
    metadata: tuple[str, ...] = ()
    turn_separator: str | None = None

    def columns(self) -> list[tuple[str, str]]:
        """(option, column) for every mapped column, in a stable order."""
        pairs = [("id", self.id)] if self.id else []
        pairs += [("turns", column) for column in self.turns]
        if self.speakers:
            pairs.append(("speakers", self.speakers))
        if self.reference:
            pairs.append(("reference", self.reference))
        pairs += [("metadata", column) for column in self.metadata]
        return pairs


def split_names(value: str | Sequence[str] | None, option: str) -> tuple[str, ...]:
    """A comma-separated string or a list of names -> tuple of non-empty names."""
    if value is None:
        return ()
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list | tuple):
        parts = list(value)
    else:
        raise ImportOptionError(f"{option}= must be a column name or a list of names")
    names = tuple(str(part).strip() for part in parts if str(part).strip())
    return names


def unescape_separator(value: str) -> str:
    return value.replace("\\n", "\n").replace("\\t", "\t").replace("\\r", "\r")


def make_mapping(
    format_name: str,
    *,
    id: str | None,
    turns: str | Sequence[str] | None,
    speakers: str | None,
    speaker_names: str | Sequence[str] | None,
    reference: str | None,
    metadata: str | Sequence[str] | None,
    turn_separator: str | None,
) -> ColumnMapping:
    turn_columns = split_names(turns, "turns")
    if not turn_columns:
        raise ImportOptionError(
            f"format '{format_name}' needs turns=COLUMN (the column holding the turns) or "
            "turns=COL1,COL2,... (one column per turn)"
        )
    names = split_names(speaker_names, "speaker_names") or ("A", "B")
    separator = None
    if turn_separator is not None:
        separator = unescape_separator(str(turn_separator))
        if separator == "":
            raise ImportOptionError("turn_separator= must not be empty")
    for option, value in (("id", id), ("speakers", speakers), ("reference", reference)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ImportOptionError(f"{option}= must be a column name")
    return ColumnMapping(
        turns=turn_columns,
        id=id.strip() if id else None,
        speakers=speakers.strip() if speakers else None,
        speaker_names=names,
        reference=reference.strip() if reference else None,
        metadata=split_names(metadata, "metadata"),
        turn_separator=separator,
    )


# --------------------------------------------------------------------------- public API


def iter_csv(
    path: str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
    turns: str | Sequence[str] | None = None,
    id: str | None = None,
    speakers: str | None = None,
    speaker_names: str | Sequence[str] = "A,B",
    reference: str | None = None,
    metadata: str | Sequence[str] | None = None,
    turn_separator: str | None = None,
    delimiter: str = ",",
) -> Iterator[ImportedContext]:
    """Yield one context per row of an RFC 4180 CSV file with a header row."""
    mapping = make_mapping(
        "csv",
        id=id,
        turns=turns,
        speakers=speakers,
        speaker_names=speaker_names,
        reference=reference,
        metadata=metadata,
        turn_separator=turn_separator,
    )
    delimiter = {"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter)
    if len(delimiter) != 1:
        raise ImportOptionError(f"delimiter= must be one character, found {delimiter!r}")
    source = Source(path, skip_bad=skip_bad, on_skip=on_skip)
    return source.run(_csv_contexts(source, mapping, delimiter))


def iter_jsonl(
    path: str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
    turns: str | Sequence[str] | None = None,
    id: str | None = None,
    speakers: str | None = None,
    speaker_names: str | Sequence[str] = "A,B",
    reference: str | None = None,
    metadata: str | Sequence[str] | None = None,
    turn_separator: str | None = None,
) -> Iterator[ImportedContext]:
    """Yield one context per object of a JSON Lines file (or of a JSON array)."""
    mapping = make_mapping(
        "jsonl",
        id=id,
        turns=turns,
        speakers=speakers,
        speaker_names=speaker_names,
        reference=reference,
        metadata=metadata,
        turn_separator=turn_separator,
    )
    source = Source(path, skip_bad=skip_bad, on_skip=on_skip)
    return source.run(_jsonl_contexts(source, mapping))


# --------------------------------------------------------------------------- CSV


class _LineFeed:
    """Feeds lines to csv.reader and remembers where the current record started."""

    def __init__(self, lines: Iterator[tuple[int, str]]):
        self._lines = lines
        self.start: int | None = None
        self.current = 0
        self.start_text = ""

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        lineno, text = next(self._lines)
        self.current = lineno
        if self.start is None:
            self.start = lineno
            self.start_text = text
        return text


def _csv_contexts(
    source: Source, mapping: ColumnMapping, delimiter: str
) -> Iterator[ImportedContext]:
    feed = _LineFeed(source.lines(keep_ends=True))
    reader = csv.reader(feed, delimiter=delimiter, strict=True)
    header: list[str] | None = None
    index: dict[str, int] = {}
    seen = SeenKeys()
    record_no = 0
    while True:
        feed.start = None
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line = feed.start or feed.current
            reason = str(exc)
            if "unexpected end of data" in reason:
                reason = "a quoted field is never closed (it runs to the end of the file)"
            if header is None:
                source.fatal(line, f"not a readable CSV header ({reason})")
            source.bad(line, f"malformed CSV ({reason})")
            continue
        line = feed.start or feed.current
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = [name.strip() for name in row]
            _check_header(source, line, feed.start_text, header, mapping)
            source.header_lines = feed.current - line + 1
            for position, name in enumerate(header):
                index.setdefault(name, position)
            continue
        record_no += 1
        if not source.cells_storable(line, row, header):
            continue
        if len(row) != len(header):
            source.bad(line, f"expected {len(header)} fields, found {len(row)}")
            continue
        context = _build(
            source,
            line,
            record_no,
            partial(_cell, row, index),
            mapping,
            seen,
            partial(list, header),
        )
        if context is not None:
            yield context


def _cell(row: list[str], index: dict[str, int], column: str) -> str:
    return row[index[column]]


def _check_header(
    source: Source, line: int, text: str, header: list[str], mapping: ColumnMapping
) -> None:
    if text.lstrip("\ufeff \t").startswith(("{", "[")):
        description, fmt = describe_first_line(text)
        advice = f"; use format '{fmt}'" if fmt and fmt != "csv" else "; use format 'jsonl'"
        source.fatal(line, f"not a CSV file with a header row: it looks like {description}{advice}")
    available = set(header)
    missing = [(option, column) for option, column in mapping.columns() if column not in available]
    if missing:
        names = ", ".join(f"{column!r} (from {option}=)" for option, column in missing)
        found = ", ".join(repr(name) for name in header)
        noun = "column" if len(missing) == 1 else "columns"
        source.fatal(line, f"{noun} {names} not in the header; available columns: {found}")


# --------------------------------------------------------------------------- JSONL


def _lookup(record: dict[str, Any], key: str) -> Any:
    if key in record:
        return record[key]
    if "." in key:
        value: Any = record
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return MISSING
            value = value[part]
        return value
    return MISSING


def _jsonl_contexts(source: Source, mapping: ColumnMapping) -> Iterator[ImportedContext]:
    first_char = source.first_char()
    if first_char is None:
        return
    if first_char == "[":
        records = json_array_items(source)
    else:
        records = json_lines(source, "jsonl")
    seen = SeenKeys()
    record_no = 0
    for line, record in records:
        record_no += 1
        if not isinstance(record, dict):
            reason = f"expected a JSON object, found a JSON {type(record).__name__}"
            if record_no == 1:
                source.fatal(line, reason)
            source.bad(line, reason)
            continue
        if record_no == 1:
            missing = [
                (option, column)
                for option, column in mapping.columns()
                if _lookup(record, column) is MISSING
            ]
            if missing:
                names = ", ".join(f"{column!r} (from {option}=)" for option, column in missing)
                found = ", ".join(repr(key) for key in record)
                noun = "key" if len(missing) == 1 else "keys"
                source.fatal(line, f"{noun} {names} not in the first record; its keys: {found}")
        context = _build(
            source,
            line,
            record_no,
            partial(_lookup, record),
            mapping,
            seen,
            partial(list, record),
        )
        if context is not None:
            yield context
    if record_no == 0 and first_char == "[":
        source.empty_detail = "the JSON array is empty"


# --------------------------------------------------------------------------- shared


def _listify(
    value: Any, separator: str | None, *, default_split: str | None = None
) -> list[Any] | None:
    """A cell -> list of items, or None if it holds neither text nor a list.

    A list (JSONL) or a text that parses as a JSON list is taken as is; other text is
    split by ``separator`` when it occurs in it, else by ``default_split``, else it is
    one item.
    """
    if value is None or value is MISSING:
        return []
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        return None
    stripped = value.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            parsed = json.loads(stripped)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    if separator is not None and separator in value:
        return value.split(separator)
    if default_split is not None:
        return value.split(default_split)
    return [value]


def _item_text(item: Any) -> tuple[str | None, str] | str:
    """A turn item -> (speaker or None, text), or an error reason."""
    if isinstance(item, str):
        return None, item.strip()
    if isinstance(item, dict):
        text = next((item[k] for k in TEXT_KEYS if k in item), None)
        speaker = next((item[k] for k in SPEAKER_KEYS if k in item), None)
        if not isinstance(text, str):
            return f"a turn object needs a text field ({'/'.join(TEXT_KEYS)})"
        if speaker is not None and not isinstance(speaker, str):
            return "a turn's speaker must be a string"
        return speaker, text.strip()
    return f"a turn must be text or an object, found a JSON {type(item).__name__}"


def _build(
    source: Source,
    line: int,
    record_no: int,
    get: Callable[[str], Any],
    mapping: ColumnMapping,
    seen: SeenKeys,
    available: Callable[[], list[str]],
) -> ImportedContext | None:
    def missing(column: str, option: str) -> None:
        keys = ", ".join(repr(key) for key in available())
        source.bad(line, f"{column!r} (from {option}=) is missing; available: {keys}")

    # id
    if mapping.id:
        raw_id = get(mapping.id)
        if raw_id is MISSING:
            missing(mapping.id, "id")
            return None
        if raw_id is None or isinstance(raw_id, dict | list) or not str(raw_id).strip():
            source.bad(line, f"the id column {mapping.id!r} is empty or not a plain value")
            return None
        external_id = str(raw_id).strip()
    else:
        external_id = str(record_no)
    if external_id in seen:
        source.bad(line, f"duplicate id {external_id!r}")
        return None

    # turns
    items: list[Any] = []
    if len(mapping.turns) > 1:
        for column in mapping.turns:
            value = get(column)
            if value is MISSING or value is None:
                continue
            if not isinstance(value, str):
                source.bad(line, f"column {column!r} must hold text, found {type(value).__name__}")
                return None
            items.append(value)
    else:
        column = mapping.turns[0]
        value = get(column)
        if value is MISSING:
            missing(column, "turns")
            return None
        listed = _listify(value, mapping.turn_separator)
        if listed is None:
            source.bad(
                line,
                f"column {column!r} must hold text or a list of turns, found "
                f"{type(value).__name__}",
            )
            return None
        items = listed
    parsed: list[tuple[str | None, str]] = []
    for position, item in enumerate(items, start=1):
        result = _item_text(item)
        if isinstance(result, str):
            source.bad(line, f"turn {position}: {result}")
            return None
        if result[1]:
            parsed.append(result)
    if not parsed:
        source.bad(line, "no turns (the turns column is empty)")
        return None

    # speakers
    names: list[Any] | None = None
    if mapping.speakers:
        value = get(mapping.speakers)
        if value is not MISSING and value is not None and value != "":
            names = _listify(value, mapping.turn_separator, default_split=",")
            if names is None or not all(isinstance(n, str) for n in names):
                source.bad(line, f"column {mapping.speakers!r} must hold a list of speaker names")
                return None
            names = [n.strip() for n in names if n.strip()]
            if len(names) != len(parsed):
                source.bad(
                    line,
                    f"{len(names)} speaker(s) in {mapping.speakers!r} for {len(parsed)} turn(s)",
                )
                return None
    cycle = mapping.speaker_names
    turns = tuple(
        Turn(
            names[i] if names else (speaker or cycle[i % len(cycle)]),
            text,
        )
        for i, (speaker, text) in enumerate(parsed)
    )

    # reference
    reference = None
    if mapping.reference:
        value = get(mapping.reference)
        if value is not MISSING and value is not None:
            if not isinstance(value, str):
                source.bad(
                    line,
                    f"the reference column {mapping.reference!r} must hold text, "
                    f"found {clip(repr(value), 30)}",
                )
                return None
            reference = value.strip() or None

    metadata: dict[str, Any] = {}
    for column in mapping.metadata:
        value = get(column)
        metadata[column] = None if value is MISSING else value
    seen.add(external_id)
    return ImportedContext(external_id, turns, reference, metadata)
