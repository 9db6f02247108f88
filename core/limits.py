"""How long, how large and how deep the inputs evalsite stores may be (pure).

One table, read by the study spec (as ``max_length`` in its schema), the data-file readers
and the dataset importers, so that an input too long for its database column, too large to
serve, or holding a character the database refuses is reported where it is written (the
spec's field, the file's line), before anything is created.

The ``COLUMNS`` are the database columns the inputs end up in; their lengths are the models'
``max_length`` (``tests/test_limits.py`` keeps them equal).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ATTENTION_CHECK_ID",
    "COLUMNS",
    "CONTEXT_ID",
    "DATASET_NAME",
    "DATA_FILE_BYTES",
    "DATA_LINE_CHARS",
    "MAX_OVERLAP",
    "MAX_SLOTS",
    "SPEC_DEPTH",
    "SPEC_FILE_BYTES",
    "SPEC_STUDY_NAME",
    "STUDY_NAME",
    "STUDY_NAME_SUFFIX",
    "STUDY_TEXT_CHARS",
    "STUDY_TITLE",
    "SYSTEM_NAME",
    "Column",
    "nesting_depth",
    "unstorable",
    "unstorable_strings",
]


@dataclass(frozen=True)
class Column:
    """A database column an input is stored in: ``model`` ("app.Model"), ``field``, and the
    most characters it holds."""

    model: str
    field: str
    max_length: int


STUDY_NAME = Column("annotation.Study", "name", 120)
STUDY_TITLE = Column("annotation.Study", "title", 300)
ATTENTION_CHECK_ID = Column("annotation.Item", "attention_check_id", 120)
SYSTEM_NAME = Column("generation.System", "name", 120)
DATASET_NAME = Column("generation.Dataset", "name", 120)
CONTEXT_ID = Column("generation.Context", "external_id", 200)

COLUMNS = (STUDY_NAME, STUDY_TITLE, ATTENTION_CHECK_ID, SYSTEM_NAME, DATASET_NAME, CONTEXT_ID)

#: A study's contexts and attention checks are stored as datasets named after it
#: ("<name>-contexts", "<name>-attention"), so its name leaves room for the longest suffix.
STUDY_NAME_SUFFIX = "-attention"
SPEC_STUDY_NAME = min(STUDY_NAME.max_length, DATASET_NAME.max_length - len(STUDY_NAME_SUFFIX))

#: The study's texts (instructions, consent, description, ...) are sent with every page an
#: annotator sees: 100,000 characters is a long booklet, and keeps each page light.
STUDY_TEXT_CHARS = 100_000

#: A spec file: far above any real spec (the reference spec is 20 kB), far below a size
#: that would slow the YAML parser down.
SPEC_FILE_BYTES = 2_000_000
#: Mappings and lists inside mappings and lists; a real spec nests 5 deep (a system's
#: decoding options). Deeper nesting is refused before it can exhaust the stack.
SPEC_DEPTH = 20

#: Annotators per output: a crowd study uses 3 to 10.
MAX_OVERLAP = 1_000
#: Annotator slots a study's design may create (each is a database row made with the study,
#: and a batch waiting for an annotator).
MAX_SLOTS = 100_000

#: A dataset or data file (after decompression): above every dataset evalsite imports
#: (RealToxicityPrompts' prompts are 0.4 GB), and a bound on /dev/zero or a gzip bomb.
DATA_FILE_BYTES = 4 << 30
#: One line (one record) of a data file: real records are a few kB; a line is read whole.
DATA_LINE_CHARS = 1 << 22


# --------------------------------------------------------------------------- characters

#: What no text column can hold: NUL (PostgreSQL refuses it) and lone UTF-16 surrogates
#: (no UTF-8 encoding; JSON's "\ud800" escapes make them, and so do undecodable bytes read
#: with errors="surrogateescape").
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored ("a NUL character (U+0000) at character 7"), or None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    what = "a NUL character" if char == "\x00" else "a lone surrogate"
    return f"contains {what} (U+{ord(char):04X}) at character {found.start() + 1}"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def unstorable_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, reason) for every string in ``value`` (nested mappings and lists, keys too)
    that cannot be stored; paths as the spec writes them ("systems[0].config.prompt")."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            reason = unstorable(item)
            if reason is not None:
                yield where or "(value)", reason
        elif isinstance(item, Mapping):
            children = []
            for key, child in item.items():
                name = str(key)
                reason = unstorable(name)
                if reason is not None:
                    yield _join(where, repr(name)), f"the key {reason}"
                children.append((_join(where, name), child))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(_join(where, i), c) for i, c in enumerate(item)]))


def nesting_depth(value: Any) -> int:
    """How deep mappings and lists nest in ``value`` (a scalar: 0, ``[1]``: 1, ``{"a": []}``:
    2); iterative, so any depth can be measured."""
    deepest = 0
    stack: list[tuple[int, Any]] = [(0, value)]
    while stack:
        depth, item = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        stack.extend((depth + 1, child) for child in children)
    return deepest


def fit_key(key: str, max_length: int) -> str:
    """`key` if it fits its column, else its start and a hash of the whole (stable, and
    distinct for distinct keys): keys made of several names (``file:{study}:{system}:{id}``)
    can outgrow their column although each name fits its own."""
    if len(key) <= max_length:
        return key
    digest = hashlib.sha256(key.encode("utf-8", errors="surrogatepass")).hexdigest()[:24]
    return f"{key[: max_length - len(digest) - 1]}#{digest}"
