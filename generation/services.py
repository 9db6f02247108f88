"""Writes that touch the ORM for the generation app: importing datasets, registering systems."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django.db import transaction

from .importers import ImportedContext, ImportReport, run_import
from .models import Context, Dataset, System
from .validation import NAME_RE, ConfigProblem, SystemConfigError, normalize_config

INSERT_CHUNK = 1000


class DatasetExists(Exception):
    pass


def import_dataset(
    format: str,
    path: str | Path,
    name: str,
    *,
    skip_bad: bool = False,
    options: dict | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Dataset, ImportReport]:
    """Import a file as a new dataset, atomically: a bad row (without skip_bad) imports nothing.

    Contexts are inserted in chunks while the file streams, so memory stays bounded.
    """
    if Dataset.objects.filter(name=name).exists():
        raise DatasetExists(f"a dataset named {name!r} already exists; choose another --name")
    pending: list[Context] = []
    with transaction.atomic():
        dataset = Dataset.objects.create(name=name, format=format, source_path=str(path))

        def flush() -> None:
            Context.objects.bulk_create(pending)
            if progress is not None:
                progress(len(pending))
            pending.clear()

        def handle(context: ImportedContext) -> None:
            pending.append(
                Context(
                    dataset=dataset,
                    external_id=context.external_id,
                    turns=[{"speaker": t.speaker, "text": t.text} for t in context.turns],
                    reference_response=context.reference_response,
                    metadata=dict(context.metadata),
                )
            )
            if len(pending) >= INSERT_CHUNK:
                flush()

        report = run_import(format, path, handle, skip_bad=skip_bad, **(options or {}))
        flush()
    return dataset, report


def register_system(
    name: str,
    kind: str,
    config: Mapping[str, Any] | None = None,
    *,
    base_dir: str | Path | None = None,
    replace: bool = False,
) -> System:
    """Validate, then create (or, with `replace`, update) the System; creates nothing on error.

    Replacing is refused once the system has candidates: they were made with the old config.
    """
    problems = []
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 120:
        problems.append(ConfigProblem("name", f"must be a slug (letters, digits, '-', '_'), not {name!r}"))
    existing = System.objects.filter(name=name).first() if not problems else None
    if existing is not None and not replace:
        problems.append(ConfigProblem(
            "name", f"a system named {name!r} is already registered (kind {existing.kind}); "
                    "choose another name or pass --replace"))
    if existing is not None and replace and existing.candidates.exists():
        problems.append(ConfigProblem(
            "name", f"{name!r} already has candidates made with its current config; register the new "
                    "config under another name"))
    if problems:
        raise SystemConfigError(problems)
    normalized = normalize_config(kind, config, base_dir=base_dir)
    with transaction.atomic():
        if existing is not None:
            existing.kind = kind
            existing.config = normalized
            existing.save(update_fields=["kind", "config"])
            return existing
        return System.objects.create(name=name, kind=kind, config=normalized)
