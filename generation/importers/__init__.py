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

__all__ = [
    "IMPORTERS",
    "DatasetImportError",
    "ImportOptionError",
    "ImportProblem",
    "ImportReport",
    "ImportedContext",
    "Turn",
    "importer_options",
    "iter_dataset",
    "parse_options",
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

    For a command line's repeated ``--map key=value``. A repeated list option
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
