"""The bytes of a judgments file, read within bounds and checked, for ``judgment_import``.

A judgments file is refused, never half-read, when it is larger than ``MAX_FILE_BYTES``,
has a line longer than ``MAX_LINE_BYTES``, has bytes that are not UTF-8 (an encoded
surrogate included) or a cell with a NUL character or a lone surrogate (which no database
text column takes). Lines are read with a bounded length, so ``/dev/zero`` or a 1 GB line
fails after reading at most a line's limit. Each problem names its line (and the column
where known), in the form of the parser's other problems. Pure.
"""

from __future__ import annotations

import codecs
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TextIO

from core.limits import unstorable

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_LINE_BYTES",
    "Unreadable",
    "character_problems",
    "column_name",
    "lines",
    "megabytes",
    "open_source",
]

#: Bounds on a judgments file: past them it is refused, having read at most this much.
MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024


def open_source(source: str | Path | TextIO) -> tuple[IO[bytes] | TextIO, bool]:
    if isinstance(source, str | Path):
        return open(source, "rb"), True  # noqa: SIM115 - closed by parse_judgments
    return source, False


class Unreadable(Exception):
    """A line that cannot be read; reading stops there (what follows is not trusted).
    ``before`` is the line's text up to the problem, to name its column."""

    def __init__(self, line: int, reason: str, before: str | None = None):
        super().__init__(reason)
        self.line, self.reason, self.before = line, reason, before


def megabytes(n: int) -> str:
    """A limit in words: ``200 MB`` (``1,000 bytes`` when not a whole number of MB)."""
    mb = 1024 * 1024
    return f"{n // mb} MB" if n % mb == 0 else f"{n:,} bytes"


def lines(handle: IO[bytes] | TextIO) -> Iterator[str]:
    """The file's lines as text, each read with a bounded length; raises Unreadable at
    the first line that is too long, past the size limit, or not UTF-8."""
    total = 0
    for number in itertools.count(1):
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        total += len(raw)
        if total > MAX_FILE_BYTES:
            raise Unreadable(
                number, f"the file is larger than {megabytes(MAX_FILE_BYTES)} (MAX_FILE_BYTES)"
            )
        if len(raw) > MAX_LINE_BYTES:
            raise Unreadable(
                number, f"the line is longer than {megabytes(MAX_LINE_BYTES)} (MAX_LINE_BYTES)"
            )
        if isinstance(raw, bytes):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                before = raw[: exc.start].decode("utf-8")
                raise Unreadable(number, _not_utf8(raw, exc.start, exc.reason), before) from None
        else:
            yield raw


def _not_utf8(raw: bytes, at: int, reason: str) -> str:
    """Why the bytes at ``at`` of a line are not UTF-8, in words."""
    if raw[at] == 0xED and at + 1 < len(raw) and 0xA0 <= raw[at + 1] <= 0xBF:
        return f"byte {at + 1} of the line starts an encoded surrogate (half of a UTF-16 pair)"
    return f"byte {at + 1} of the line (0x{raw[at]:02x}) is not UTF-8 text ({reason})"


def column_name(names: list[str], index: int) -> str:
    return names[index] if index < len(names) and names[index] else f"column {index + 1}"


def character_problems(record: list[str], names: list[str]) -> list[str]:
    """``column: reason`` for each cell that no text column can hold (a NUL character or
    a lone surrogate: ``core.limits.unstorable``)."""
    problems = []
    for index, cell in enumerate(record):
        reason = unstorable(cell)
        if reason is not None:
            problems.append(f"{column_name(names, index)}: {reason}")
    return problems
