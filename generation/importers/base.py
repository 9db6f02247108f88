"""The common data model of the dataset importers and the plumbing they share.

Pure Python (no Django). Every importer turns one file into a stream of
:class:`ImportedContext`; bad input becomes an :class:`ImportProblem` that names the
file and the 1-based line. See README.md next to this file for the design.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import re
import stat
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from core import limits
from core.limits import unstorable, unstorable_strings

# --------------------------------------------------------------------------- data model


@dataclass(frozen=True, slots=True)
class Turn:
    """One utterance of a dialogue context."""

    speaker: str
    text: str


@dataclass(frozen=True, slots=True)
class ImportedContext:
    """A dialogue context to be answered, with the dataset's own answer if it has one.

    ``metadata`` holds JSON-serialisable extras (emotion label, situation prompt,
    safety_label, rots, toxicity scores...). It is left out of the hash so contexts
    can still be put in sets.
    """

    external_id: str
    turns: tuple[Turn, ...]
    reference_response: str | None
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)


class DatasetImportError(Exception):
    """Base class of everything the importers raise on purpose (catch this in commands)."""


class ImportProblem(DatasetImportError):
    """A malformed row, a wrong file format, an empty file... located in the file.

    ``str()`` reads like ``contexts.csv line 7: expected 8 fields, found 5``
    (without ``line N`` when the problem is about the whole file).
    """

    def __init__(self, line: int | None, reason: str, path: str | os.PathLike[str]):
        self.line = line
        self.reason = reason
        self.path = os.fspath(path)
        super().__init__(line, reason, self.path)

    @property
    def filename(self) -> str:
        return os.path.basename(self.path) or self.path

    def __str__(self) -> str:
        where = self.filename if self.line is None else f"{self.filename} line {self.line}"
        return f"{where}: {self.reason}"


class ImportOptionError(DatasetImportError, ValueError):
    """The import was asked for wrongly (unknown format, unknown or missing option)."""


@dataclass
class ImportReport:
    """What one import did: how many contexts it produced and which rows it skipped.

    ``skipped`` keeps at most ``max_skipped`` problems (see ``run_import``);
    ``skipped_total`` counts them all.
    """

    contexts: int = 0
    skipped: list[ImportProblem] = field(default_factory=list)
    skipped_total: int = 0


OnSkip = Callable[[ImportProblem], None]

# what errors="surrogateescape" turns undecodable bytes into
_UNDECODABLE = re.compile("[\udc80-\udcff]")

# --------------------------------------------------------------------------- the source


class Source:
    """One input file: opening it, reading it line by line, and reporting problems.

    ``bad()`` is for a problem with one row: it raises unless ``skip_bad``, in which
    case ``on_skip`` is called and the importer goes on. ``fatal()`` always raises: it is
    for problems that make the rest of the file meaningless (wrong format, broken JSON
    array). ``.gz`` files are read through gzip transparently.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        skip_bad: bool = False,
        on_skip: OnSkip | None = None,
    ):
        self.path = os.fspath(path)
        self.name = os.path.basename(self.path) or self.path
        self.skip_bad = bool(skip_bad)
        self.on_skip = on_skip
        self.skipped = 0
        self.nonblank_lines = 0
        self.header_lines = 0
        self.empty_detail: str | None = None
        self.read_chars = 0

    # -- problems

    def problem(self, line: int | None, reason: str) -> ImportProblem:
        return ImportProblem(line, reason, self.path)

    def bad(self, line: int | None, reason: str) -> None:
        """A bad row: raise, or (skip_bad) report it and let the caller skip it."""
        problem = self.problem(line, reason)
        if not self.skip_bad:
            raise problem
        self.skipped += 1
        if self.on_skip is not None:
            self.on_skip(problem)

    def fatal(self, line: int | None, reason: str) -> ImportProblem:
        raise self.problem(line, reason)

    # -- reading

    def open_binary(self) -> gzip.GzipFile | io.BufferedReader:
        try:
            if os.path.exists(self.path) and not os.path.isdir(self.path):
                if not stat.S_ISREG(os.stat(self.path).st_mode):
                    raise self.problem(None, "is not a regular file")
                size = os.path.getsize(self.path)
                if size > limits.DATA_FILE_BYTES:
                    raise self.problem(None, f"is {size:,} bytes; {self._file_bound}")
            if self.path.endswith(".gz"):
                compressed = gzip.open(self.path, "rb")
                compressed.peek(1)  # fail now on a non-gzip file
                return compressed
            return open(self.path, "rb")  # closed by the callers
        except FileNotFoundError:
            raise self.problem(None, "file not found") from None
        except IsADirectoryError:
            raise self.problem(None, "is a directory, not a file") from None
        except (OSError, EOFError) as exc:
            raise self.problem(None, f"cannot read the file ({exc})") from None

    def lines(self, *, keep_ends: bool = False) -> Iterator[tuple[int, str]]:
        """Yield ``(line_number, text)`` for every line, decoded as UTF-8.

        Line numbers are 1-based physical lines (only ``\\n`` ends a line, so a lone
        ``\\r`` inside a field does not shift them). A leading byte-order mark is dropped.
        A line that is not valid UTF-8 is a bad row. Without ``keep_ends`` the line
        ending is stripped.
        """
        longest = limits.DATA_LINE_CHARS
        with self.open_binary() as handle:
            stream = io.TextIOWrapper(
                handle, encoding="utf-8-sig", errors="surrogateescape", newline="\n"
            )
            undecodable = _UNDECODABLE.search
            lineno = 0
            try:
                while text := stream.readline(longest + 1):
                    lineno += 1
                    self.count(lineno, len(text))
                    if len(text) > longest and not text.endswith("\n"):
                        self.fatal(lineno, f"the line is longer than {longest:,} characters")
                    if undecodable(text) is not None:
                        self.bad(lineno, "not valid UTF-8 text")
                        continue
                    if not keep_ends:
                        text = text.rstrip("\r\n")
                    if self.nonblank_lines < 8 and text and not text.isspace():
                        self.nonblank_lines += 1
                    yield lineno, text
            except (OSError, EOFError) as exc:  # e.g. a truncated .gz
                raise self.problem(lineno + 1, f"cannot read the file ({exc})") from None

    @property
    def _file_bound(self) -> str:
        return f"a dataset file may be at most {limits.DATA_FILE_BYTES:,} bytes"

    def count(self, line: int, chars: int) -> None:
        """Count what was read (decompressed); past ``DATA_FILE_BYTES`` the file is refused
        (a gzip bomb, or a device that never ends)."""
        self.read_chars += chars
        if self.read_chars > limits.DATA_FILE_BYTES:
            self.fatal(line, f"the file goes on past {limits.DATA_FILE_BYTES:,} characters")

    def storable(self, line: int, value: Any) -> bool:
        """Every string in a parsed record can be stored; a bad row (NUL, lone surrogate,
        as JSON's \\u0000 and \\ud800 escapes make them) otherwise."""
        found = next(iter(unstorable_strings(value)), None)
        if found is None:
            return True
        self.bad(line, f"{found[0]} {found[1]}")
        return False

    def cells_storable(self, line: int, cells: Sequence[str], names: Sequence[str]) -> bool:
        """Every cell of a CSV record can be stored; a bad row naming the column otherwise."""
        for position, cell in enumerate(cells):
            reason = unstorable(cell)
            if reason is not None:
                name = names[position] if position < len(names) else f"field {position + 1}"
                self.bad(line, f"{name} (field {position + 1}) {reason}")
                return False
        return True

    def first_char(self) -> str | None:
        """The first non-whitespace character of the file (after a BOM), or None."""
        with self.open_binary() as handle:
            decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
            try:
                while True:
                    chunk = handle.read(4096)
                    self.count(1, len(chunk))
                    text = decoder.decode(chunk, final=not chunk).lstrip()
                    if text:
                        return text[0]
                    if not chunk:
                        return None
            except (OSError, EOFError) as exc:
                raise self.problem(None, f"cannot read the file ({exc})") from None

    def run(self, contexts: Iterator[ImportedContext]) -> Iterator[ImportedContext]:
        """Pass contexts through; an import that produced none is an error."""
        count = 0
        longest = limits.CONTEXT_ID.max_length
        for context in contexts:
            if len(context.external_id) > longest:
                self.bad(
                    None,
                    f"context id {clip(context.external_id, 40)!r} is "
                    f"{len(context.external_id):,} characters long; at most {longest} "
                    "(the longest id the database holds)",
                )
                continue
            count += 1
            yield context
        if count == 0:
            if self.empty_detail:
                detail = self.empty_detail
            elif self.nonblank_lines == 0:
                detail = "the file is empty"
            elif self.nonblank_lines <= self.header_lines and not self.skipped:
                detail = "the file has a header but no rows"
            elif self.skipped:
                detail = f"all {self.skipped} problem(s) in it were skipped"
            else:
                detail = "nothing in it could be used"
            raise self.problem(None, f"no contexts found in {self.name} ({detail})")


# --------------------------------------------------------------------------- helpers


class SeenKeys:
    """A set of strings that costs about 16 bytes per key.

    Used to notice a dialogue id that comes back after its dialogue was finished,
    without keeping every id string alive. Keys are 64-bit string hashes kept in an
    open-addressing table (an ``array('q')``, at most half full); a false "seen" needs a
    64-bit hash collision (about 1 in 10^7 for a million keys). String hashes are
    cached on the string and salted per process, which is fine for a set that lives
    only as long as one import.
    """

    def __init__(self, capacity: int = 1024):
        size = 1
        while size < 2 * capacity:
            size *= 2
        self._table = array("q", [0]) * size
        self._mask = size - 1
        self._count = 0

    @staticmethod
    def _fingerprint(key: str) -> int:
        return hash(key) or 1  # 0 marks an empty slot

    def _slot(self, fp: int) -> tuple[int, bool]:
        table, mask = self._table, self._mask
        i = fp & mask
        while True:
            value = table[i]
            if value == fp:
                return i, True
            if value == 0:
                return i, False
            i = (i + 1) & mask

    def __contains__(self, key: str) -> bool:
        return self._slot(self._fingerprint(key))[1]

    def add(self, key: str) -> None:
        fp = self._fingerprint(key)
        i, found = self._slot(fp)
        if found:
            return
        self._table[i] = fp
        self._count += 1
        if 2 * self._count > len(self._table):
            old = self._table
            self._table = array("q", [0]) * (2 * len(old))
            self._mask = len(self._table) - 1
            for value in old:
                if value:
                    self._table[self._slot(value)[0]] = value

    def __len__(self) -> int:
        return self._count


def clip(text: str, limit: int = 80) -> str:
    """Shorten text for an error message."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


ED_HEADER_START = "conv_id,utterance_idx,context,prompt,speaker_idx,utterance"


def describe_first_line(text: str) -> tuple[str, str | None]:
    """What a file looks like from its first non-blank line: (description, format).

    The format is the registry name that probably fits, or None. Used to turn
    "wrong format for the file" into an error that says what to do instead.
    """
    stripped = text.lstrip("\ufeff").strip()
    if stripped.startswith(ED_HEADER_START):
        return "an EmpatheticDialogues CSV", "empathetic_dialogues"
    if stripped.startswith("["):
        return "a JSON array", None
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            return "JSON (not one object per line)", None
        if isinstance(obj, dict):
            return describe_record(obj)
        return "JSON", None
    if "," in stripped or "\t" in stripped:
        return "a CSV file", "csv"
    return "plain text", None


def describe_record(obj: dict[str, Any]) -> tuple[str, str | None]:
    """What a JSON object looks like: (description, probable format name)."""
    if isinstance(obj.get("prompt"), dict) and "continuation" in obj:
        return "a RealToxicityPrompts record", "real_toxicity_prompts"
    if {"context", "response"} <= obj.keys() and (
        "dialogue_id" in obj or "safety_label" in obj or "rots" in obj
    ):
        return "a ProsocialDialog row", "prosocial_dialog"
    if "turns" in obj and "dialogue_id" in obj:
        return "a ProsocialDialog dialogue", "prosocial_dialog"
    keys = ", ".join(list(obj)[:8])
    return f"a JSON object with keys {keys}", "jsonl"


def format_hint(found: tuple[str, str | None], this_format: str) -> str:
    description, fmt = found
    if fmt and fmt != this_format:
        return f"it looks like {description}; use format '{fmt}'"
    return f"it looks like {description}"


def json_lines(source: Source, format_name: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, value)`` for every non-blank line of a JSON Lines file.

    A line that is not valid JSON is a bad row, except the first one when it does not
    even start like a JSON object: then the file is in the wrong format (fatal).
    """
    first = True
    for lineno, text in source.lines():
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as exc:
            if first and not text.lstrip("\ufeff \t").startswith("{"):
                description, fmt = describe_first_line(text)
                advice = f"; use format '{fmt}'" if fmt and fmt != format_name else ""
                source.fatal(
                    lineno,
                    "not JSON Lines (one JSON object per line): it looks "
                    f"like {description}{advice}",
                )
            msg = getattr(exc, "msg", str(exc))
            col = getattr(exc, "colno", None)
            where = f" at column {col}" if col else ""
            source.bad(lineno, f"not valid JSON ({msg}{where})")
            continue
        except RecursionError:
            source.bad(lineno, "not valid JSON (nested too deeply)")
            continue
        finally:
            first = False
        if ("\\u" in text or "\x00" in text) and not source.storable(lineno, value):
            continue
        yield lineno, value


_WS = re.compile(r"[ \t\r\n]*")


def _skip_ws(text: str, pos: int) -> int:
    """Where the JSON whitespace at ``pos`` ends (the pattern matches the empty string too)."""
    found = _WS.match(text, pos)
    assert found is not None
    return found.end()


def json_array_items(
    source: Source,
    *,
    chunk_chars: int = 1 << 16,
    max_item_chars: int = 64 << 20,
) -> Iterator[tuple[int, Any]]:
    """Stream the elements of a top-level JSON array: yield ``(line, element)``.

    Reads the file in chunks and decodes one element at a time with
    ``json.JSONDecoder.raw_decode``, so memory is one chunk plus the largest element
    (capped by ``max_item_chars``). A syntax error inside the array is fatal even with
    skip_bad: there is no reliable way to find where the broken element ends.
    """
    decoder = json.JSONDecoder()
    with source.open_binary() as raw:
        reader = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
        buf = ""
        pos = 0
        line = 1  # line number at buf[pos]
        eof = False

        def read_more() -> None:
            nonlocal buf, pos, eof
            buf = buf[pos:]
            pos = 0
            try:
                chunk = reader.read(chunk_chars)
            except UnicodeDecodeError:
                raise source.problem(line, "not valid UTF-8 text") from None
            except (OSError, EOFError) as exc:
                raise source.problem(line, f"cannot read the file ({exc})") from None
            if not chunk:
                eof = True
            source.count(line, len(chunk))
            buf += chunk

        def advance(to: int) -> None:
            nonlocal pos, line
            line += buf.count("\n", pos, to)
            pos = to

        def skip_ws() -> bool:
            """Skip whitespace; False at the end of the file."""
            while True:
                advance(_skip_ws(buf, pos))
                if pos < len(buf):
                    return True
                if eof:
                    return False
                read_more()

        if not skip_ws():
            return
        if buf[pos] != "[":
            source.fatal(line, f"expected a JSON array ('['), found {clip(buf[pos : pos + 20])!r}")
        source.nonblank_lines += 1
        advance(pos + 1)
        first = True
        while True:
            if not skip_ws():
                source.fatal(line, "the JSON array is not closed (missing ']' at the end)")
            if buf[pos] == "]":
                advance(pos + 1)
                if skip_ws():
                    source.fatal(line, "unexpected data after the end of the JSON array")
                return
            if not first:
                if buf[pos] != ",":
                    source.fatal(line, f"expected ',' or ']' in the JSON array, found {buf[pos]!r}")
                advance(pos + 1)
                if not skip_ws():
                    source.fatal(line, "the JSON array is not closed (missing ']' at the end)")
            first = False
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    at_tail = exc.pos >= len(buf) - 64 or exc.msg.startswith("Unterminated")
                    if eof or not at_tail:
                        err_line = line + buf.count("\n", pos, exc.pos)
                        source.fatal(err_line, f"not valid JSON ({exc.msg})")
                except RecursionError:
                    source.fatal(line, "not valid JSON (nested too deeply)")
                else:
                    if end < len(buf) or eof:  # a number at the very end may go on
                        break
                if len(buf) - pos > max_item_chars:
                    source.fatal(
                        line,
                        f"an element of the JSON array is longer than {max_item_chars} "
                        "characters (or is malformed)",
                    )
                read_more()
            if source.storable(line, value):
                yield line, value
            advance(end)
