"""Importing datasets: a file as a new dataset, atomically (`import_dataset`, used by the
`import_dataset` command and the API), and a file uploaded through the console with every
problem of a broken file listed (`import_uploaded_dataset`)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.db import IntegrityError, transaction

from .importers import (
    DatasetImportError,
    ImportedContext,
    ImportOptionError,
    ImportProblem,
    ImportReport,
    located_problems,
    run_import,
)
from .models import Context, Dataset
from .validation import ConfigProblem

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


@dataclass(frozen=True)
class UploadOutcome:
    """What importing an uploaded file did: the dataset and its report, or the located
    problems (each naming its field: "name", "mapping", or the file with its line) and how
    many the file has in all (the list keeps the first `PROBLEMS_SHOWN`); then nothing was
    imported."""

    dataset: Dataset | None = None
    report: ImportReport | None = None
    problems: tuple[ConfigProblem, ...] = ()
    problems_total: int = 0


PROBLEMS_SHOWN = 50


def import_uploaded_dataset(
    format: str,
    path: str | Path,
    name: str,
    *,
    source: str,
    skip_bad: bool = False,
    options: dict | None = None,
) -> UploadOutcome:
    """`import_dataset` for a file uploaded through the console, stored at `path` while it is
    imported; the dataset records `source` (the name the file was uploaded under), not the
    temporary path. On error nothing is imported and every problem of the file is listed
    with its line (not only the first, where the import stopped)."""
    if Dataset.objects.filter(name=name).exists():
        problem = ConfigProblem("name", f"a dataset named {name!r} already exists; choose another")
        return UploadOutcome(problems=(problem,), problems_total=1)
    try:
        with transaction.atomic():
            dataset, report = import_dataset(format, path, name, skip_bad=skip_bad, options=options)
            dataset.source_path = source
            dataset.save(update_fields=["source_path"])
    except DatasetExists as error:  # made meanwhile, by another request
        return UploadOutcome(problems=(ConfigProblem("name", str(error)),), problems_total=1)
    except ImportOptionError as error:
        return UploadOutcome(problems=(ConfigProblem("mapping", str(error)),), problems_total=1)
    except DatasetImportError:
        found, total = located_problems(format, path, limit=PROBLEMS_SHOWN, **(options or {}))
        located = tuple(ConfigProblem(p.filename, _where(p)) for p in found)
        return UploadOutcome(problems=located, problems_total=total)
    except IntegrityError as error:  # a context id twice, past what the importer can see
        problem = ConfigProblem(os.path.basename(path), f"duplicate context id ({error})")
        return UploadOutcome(problems=(problem,), problems_total=1)
    return UploadOutcome(dataset=dataset, report=report)


def _where(problem: ImportProblem) -> str:
    """An import problem without its file name (the problem's field): "line 7: reason"."""
    return problem.reason if problem.line is None else f"line {problem.line}: {problem.reason}"
