"""Writes that touch the ORM for the generation app: importing datasets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from django.db import transaction

from .importers import ImportedContext, ImportReport, run_import
from .models import Context, Dataset

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
