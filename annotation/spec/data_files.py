"""The data files a spec names, read line by line (pure: no Django).

    contexts   JSONL, one {"id", "turns": [{"speaker", "text"}], "reference", "metadata"}
    responses  JSONL, one {"context_id", "response"} per line (imported systems)

Every problem names ``file:line``; at most ``MAX_FILE_PROBLEMS`` per file are listed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from core import limits
from core.limits import unstorable_strings

__all__ = [
    "ContextRecord",
    "DataFileError",
    "Turn",
    "contexts_from_file",
    "load_contexts",
    "load_responses",
    "parse_turns",
    "responses_from_file",
]

MAX_FILE_PROBLEMS = 20  # per data file; the rest are counted


class DataFileError(ValueError):
    """A malformed data file; ``problems`` are ``file:line: reason`` strings."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def thaw(value: Any) -> Any:
    """Plain dicts and lists again from read-only mappings and tuples."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class Turn:
    speaker: str
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"speaker": self.speaker, "text": self.text}


@dataclass(frozen=True)
class ContextRecord:
    id: str
    turns: tuple[Turn, ...]
    reference: str | None = None
    # read-only at the top level; values are plain JSON (dict(metadata) is JSON-able)
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    line: int = field(default=0, compare=False)  # line in the contexts file (1-based)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "turns": [t.to_dict() for t in self.turns],
            "reference": self.reference,
            "metadata": thaw(self.metadata),
        }


def _read_jsonl(path: Path, display: str, problems: list[str]) -> list[tuple[int, Any]]:
    """(line number, parsed object) for every non-blank line; problems appended.

    Read a line at a time, no line longer than ``DATA_LINE_CHARS`` and no more than
    ``DATA_FILE_BYTES`` in all, so a huge file (or /dev/zero) fails early, at its line."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        problems.append(f"file not found: {display}")
        return []
    except OSError as exc:
        problems.append(f"{display}: cannot read ({exc.strerror or exc})")
        return []
    rows: list[tuple[int, Any]] = []
    longest = 4 * limits.DATA_LINE_CHARS  # UTF-8 takes at most 4 bytes a character
    read = 0
    with handle:
        for n in itertools.count(1):
            where = f"{display}:{n}"
            try:
                raw = handle.readline(longest + 1)
            except OSError as exc:
                problems.append(f"{where}: cannot read ({exc.strerror or exc})")
                break
            if not raw:
                break
            read += len(raw)
            if read > limits.DATA_FILE_BYTES:
                problems.append(
                    f"{where}: the file is larger than {limits.DATA_FILE_BYTES:,} bytes"
                )
                break
            try:
                row = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError:
                problems.append(f"{where}: not UTF-8 text")
                break
            if len(row) > limits.DATA_LINE_CHARS:
                problems.append(
                    f"{where}: the line is longer than {limits.DATA_LINE_CHARS:,} characters"
                )
                break
            if row.strip():
                _parse_line(row, where, rows, n, problems)
    return rows


def _parse_line(
    row: str, where: str, rows: list[tuple[int, Any]], n: int, problems: list[str]
) -> None:
    try:
        obj = json.loads(row)
    except json.JSONDecodeError as exc:
        problems.append(f"{where}: invalid JSON ({exc.msg} at column {exc.colno})")
        return
    except RecursionError:
        problems.append(f"{where}: invalid JSON (nested too deeply)")
        return
    bad = next(iter(unstorable_strings(obj)), None)
    if bad is not None:
        problems.append(f"{where}: {bad[0]} {bad[1]}")
        return
    rows.append((n, obj))


def _cap(problems: list[str], display: str) -> list[str]:
    if len(problems) <= MAX_FILE_PROBLEMS:
        return problems
    extra = len(problems) - MAX_FILE_PROBLEMS
    return problems[:MAX_FILE_PROBLEMS] + [f"{display}: ... and {extra} more problems"]


def _is_id(value: Any) -> bool:
    return (isinstance(value, str) and value.strip() != "") or (
        isinstance(value, int) and not isinstance(value, bool)
    )


def parse_turns(value: Any, where: str, problems: list[str]) -> tuple[Turn, ...]:
    if not isinstance(value, list) or not value:
        problems.append(f'{where}: "turns" must be a non-empty list of {{speaker, text}}')
        return ()
    turns = []
    for i, t in enumerate(value):
        if not isinstance(t, dict):
            problems.append(f"{where}: turns[{i}] must be an object with speaker and text")
            continue
        speaker, text = t.get("speaker"), t.get("text")
        bad = [
            k
            for k, v in (("speaker", speaker), ("text", text))
            if not isinstance(v, str) or not v.strip()
        ]
        extra = sorted(set(t) - {"speaker", "text"})
        if bad:
            problems.append(f"{where}: turns[{i}] needs a non-empty string {' and '.join(bad)}")
        elif extra:
            problems.append(f"{where}: turns[{i}] has unknown fields {', '.join(extra)}")
        else:
            turns.append(Turn(str(speaker), str(text)))
    return tuple(turns)


def contexts_from_file(path: Path, display: str) -> tuple[list[ContextRecord], list[str]]:
    problems: list[str] = []
    rows = _read_jsonl(path, display, problems)
    records: list[ContextRecord] = []
    first_line: dict[str, int] = {}
    for n, obj in rows:
        where = f"{display}:{n}"
        if not isinstance(obj, dict):
            problems.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        before = len(problems)
        cid = obj.get("id")
        if "id" not in obj:
            problems.append(f'{where}: missing "id"')
        elif not _is_id(cid):
            problems.append(f'{where}: "id" must be a non-empty string or an integer')
        elif len(str(cid)) > limits.CONTEXT_ID.max_length:
            problems.append(
                f'{where}: "id" is {len(str(cid)):,} characters long; '
                f"at most {limits.CONTEXT_ID.max_length} (the longest id the database holds)"
            )
        turns = parse_turns(obj.get("turns"), where, problems)
        reference = obj.get("reference")
        if reference is not None and not isinstance(reference, str):
            problems.append(f'{where}: "reference" must be a string or null')
        metadata = obj.get("metadata", {})
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict):
            problems.append(f'{where}: "metadata" must be an object')
        extra = sorted(set(obj) - {"id", "turns", "reference", "metadata"})
        if extra:
            problems.append(f"{where}: unknown fields {', '.join(extra)}")
        if _is_id(cid):
            sid = str(cid)
            if sid in first_line:
                problems.append(
                    f"{where}: duplicate context id {sid!r} (first on line {first_line[sid]})"
                )
                continue
            first_line[sid] = n
        if len(problems) == before:
            records.append(ContextRecord(str(cid), turns, reference, MappingProxyType(metadata), n))
    if not rows and not problems:
        problems.append(f"{display}: no contexts (the file is empty)")
    return records, _cap(problems, display)


def responses_from_file(
    path: Path, display: str, known_ids: set[str] | None
) -> tuple[dict[str, str], list[str]]:
    problems: list[str] = []
    rows = _read_jsonl(path, display, problems)
    responses: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for n, obj in rows:
        where = f"{display}:{n}"
        if not isinstance(obj, dict):
            problems.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
            continue
        cid, response = obj.get("context_id"), obj.get("response")
        ok = True
        if "context_id" not in obj:
            problems.append(f'{where}: missing "context_id"')
            ok = False
        elif not _is_id(cid):
            problems.append(f'{where}: "context_id" must be a non-empty string or an integer')
            ok = False
        if not isinstance(response, str) or not response.strip():
            problems.append(f'{where}: "response" must be a non-empty string')
            ok = False
        extra = sorted(set(obj) - {"context_id", "response", "metadata"})
        if extra:
            problems.append(f"{where}: unknown fields {', '.join(extra)}")
            ok = False
        if not _is_id(cid):
            continue
        sid = str(cid)
        if known_ids is not None and sid not in known_ids:
            problems.append(f"{where}: response for unknown context id {sid!r}")
            continue
        if sid in first_line:
            problems.append(
                f"{where}: second response for context {sid!r} (first on line {first_line[sid]})"
            )
            continue
        first_line[sid] = n
        if ok and isinstance(response, str):
            responses[sid] = response
    if not rows and not problems:
        problems.append(f"{display}: no responses (the file is empty)")
    return responses, _cap(problems, display)


def load_contexts(path: str | Path) -> list[ContextRecord]:
    """Read a contexts JSONL file; raises DataFileError naming file:line on any problem."""
    records, problems = contexts_from_file(Path(path), str(path))
    if problems:
        raise DataFileError(problems)
    return records


def load_responses(path: str | Path, *, known_ids: Sequence[str] | None = None) -> dict[str, str]:
    """Read a responses JSONL file into {context_id: response}.

    With ``known_ids``, a response for any other context id is an error. Raises
    DataFileError naming file:line on any problem.
    """
    known = {str(k) for k in known_ids} if known_ids is not None else None
    responses, problems = responses_from_file(Path(path), str(path), known)
    if problems:
        raise DataFileError(problems)
    return responses
