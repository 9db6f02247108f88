"""Dataset importers: files in, :class:`ImportedContext` out. Pure Python, streaming.

    from generation.importers import iter_dataset
    for context in iter_dataset("empathetic_dialogues", "train.csv", all_prefixes="true"):
        ...

Option values may be strings (as a command line passes them): booleans accept
true/false/yes/no/1/0, list options accept comma-separated names. See README.md.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from core.source_map import MapError, read_map_item

from . import empathetic_dialogues, generic, prosocial, rtp
from .base import (
    DatasetImportError,
    ImportedContext,
    ImportOptionError,
    ImportProblem,
    ImportReport,
    OnSkip,
    Turn,
)
from .generic import COLUMN_OPTIONS

__all__ = [
    "COLUMN_OPTIONS",
    "IMPORTERS",
    "DatasetImportError",
    "ImportOptionError",
    "ImportProblem",
    "ImportReport",
    "ImportedContext",
    "Turn",
    "importer_options",
    "iter_dataset",
    "located_problems",
    "parse_options",
    "read_map",
    "run_import",
]

Importer = Callable[..., Iterator[ImportedContext]]

IMPORTERS: dict[str, Importer] = {
    "empathetic_dialogues": empathetic_dialogues.iter_contexts,
    "prosocial_dialog": prosocial.iter_contexts,
    "real_toxicity_prompts": rtp.iter_contexts,
    "csv": generic.iter_csv,
    "jsonl": generic.iter_jsonl,
}

_COMMON = ("skip_bad", "on_skip")
_LIST_OPTIONS = ("turns", "metadata", "speaker_names")
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off", ""}


def _resolve(format: str) -> tuple[str, Importer]:
    name = str(format).strip().lower().replace("-", "_")
    if name not in IMPORTERS:
        raise ImportOptionError(
            f"unknown dataset format {format!r}; valid formats: {', '.join(IMPORTERS)}"
        )
    return name, IMPORTERS[name]


def importer_options(format: str) -> dict[str, Any]:
    """The format-specific options of an importer and their defaults."""
    _name, importer = _resolve(format)
    return {
        parameter.name: parameter.default
        for parameter in inspect.signature(importer).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.name not in _COMMON
    }


def _as_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ImportOptionError(f"option {name}= must be true or false, found {value!r}")


def iter_dataset(
    format: str,
    path: str | os.PathLike[str],
    *,
    skip_bad: bool | str = False,
    on_skip: OnSkip | None = None,
    **options: Any,
) -> Iterator[ImportedContext]:
    """Stream the contexts of ``path`` read as ``format`` (a key of ``IMPORTERS``).

    Raises ImportOptionError at once for an unknown format or option; ImportProblem
    (while iterating) for bad input. See each importer for its options.
    """
    name, importer = _resolve(format)
    valid = importer_options(name)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        allowed = ", ".join(valid) if valid else "none"
        raise ImportOptionError(
            f"format '{name}' has no option {', '.join(map(repr, unknown))}; its options: {allowed}"
        )
    coerced = {
        key: _as_bool(key, value) if isinstance(valid[key], bool) else value
        for key, value in options.items()
    }
    return importer(path, skip_bad=_as_bool("skip_bad", skip_bad), on_skip=on_skip, **coerced)


def parse_options(pairs: Iterable[str]) -> dict[str, str]:
    """``["turns=history", "metadata=a", "metadata=b"]`` -> options for iter_dataset.

    For a command line's repeated ``--map`` (see ``read_map``). A repeated list option
    (turns, metadata, speaker_names) accumulates; any other repeated key is an error.
    """
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ImportOptionError(f"expected key=value, found {pair!r}")
        if key in options:
            if key not in _LIST_OPTIONS:
                raise ImportOptionError(f"option {key}= given twice")
            options[key] = f"{options[key]},{value}"
        else:
            options[key] = value
    return options


def read_map(items: Iterable[str], format: str) -> tuple[list[str], list[str]]:
    """A command line's ``--map`` items -> the importer's ``option=value`` pairs (for
    ``parse_options``), and deprecation messages.

    A column is mapped as ``--map SOURCE=FIELD`` (``--map uid=id``); the old order
    ``FIELD=SOURCE`` is read where unambiguous (see ``core.source_map``). A setting is
    ``--map OPTION=VALUE``. An item naming no known option goes to the importer as it is,
    which names the options it has. Raises ``core.source_map.MapError``.
    """
    options = importer_options(format)
    columns = [name for name in COLUMN_OPTIONS if name in options]
    pairs, notes = [], []
    for item in items:
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep:
            pairs.append(item)  # parse_options says what is missing
            continue
        if key in options and key not in columns:
            if value.lower() in columns:
                raise MapError(
                    f"--map {item!r} can be read two ways: as the setting {key}={value!r}, or as "
                    f"SOURCE=FIELD, the source column {key!r} holding the field {value.lower()!r}; "
                    "rename the source column"
                )
            pairs.append(item)
            continue
        read = read_map_item(item, columns)
        if read is None:
            pairs.append(item)
            continue
        if read.deprecation:
            notes.append(read.deprecation)
        pairs.append(f"{read.field}={read.source}")
    return pairs, notes


def run_import(
    format: str,
    path: str | os.PathLike[str],
    handle: Callable[[ImportedContext], None] | None = None,
    *,
    skip_bad: bool | str = False,
    max_skipped: int = 1000,
    **options: Any,
) -> ImportReport:
    """Import a whole file, passing each context to ``handle``; return the report.

    Keeps the first ``max_skipped`` skipped problems (all are counted).
    """
    report = ImportReport()

    def on_skip(problem: ImportProblem) -> None:
        report.skipped_total += 1
        if len(report.skipped) < max_skipped:
            report.skipped.append(problem)

    for context in iter_dataset(format, path, skip_bad=skip_bad, on_skip=on_skip, **options):
        if handle is not None:
            handle(context)
        report.contexts += 1
    return report


def located_problems(
    format: str,
    path: str | os.PathLike[str],
    *,
    limit: int = 50,
    **options: Any,
) -> tuple[list[ImportProblem], int]:
    """Every problem of a file, each with its line, read without stopping at the first:
    (the first ``limit`` problems, how many there are). Writes nothing.

    For a page that shows all that is wrong with an upload at once (an import stops at the
    first bad row). A fatal problem (wrong format, broken JSON array, no contexts at all)
    ends the list, as it ends the reading.
    """
    problems: list[ImportProblem] = []
    total = 0

    def on_skip(problem: ImportProblem) -> None:
        nonlocal total
        total += 1
        if len(problems) < limit:
            problems.append(problem)

    try:
        for _context in iter_dataset(format, path, skip_bad=True, on_skip=on_skip, **options):
            pass
    except ImportProblem as fatal:
        if not (total and str(fatal.reason).startswith("no contexts found")):
            total += 1
            if len(problems) < limit:
                problems.append(fatal)
    return problems, total
