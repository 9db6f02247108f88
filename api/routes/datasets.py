"""Datasets: the lab's shared contexts, imported from a file in a named format.

An upload is imported atomically (generation.datasets.import_dataset): a bad row is a 400
naming the file and its line, and nothing is imported. The file is kept on the server only
while it is imported.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError
from django.db.models import Count
from django.http import HttpRequest
from ninja import File, Form, Router, Status, UploadedFile

from core.limits import DATASET_NAME
from core.problems import Problem
from core.source_map import MapError
from generation.datasets import DatasetExists, import_dataset
from generation.importers import IMPORTERS, DatasetImportError, parse_options, read_map
from generation.models import Dataset

from ..schemas import DatasetImported, DatasetOut, Problems
from .studies import problem_dicts

router = Router(tags=["datasets"])

FORMATS = ", ".join(IMPORTERS)


def dataset_out(dataset: Dataset, contexts: int | None = None) -> dict:
    return {
        "name": dataset.name,
        "format": dataset.format,
        "contexts": dataset.contexts.count() if contexts is None else contexts,
        "created_at": dataset.created_at,
    }


@router.get("/datasets", response=list[DatasetOut], summary="The imported datasets")
def list_datasets(request: HttpRequest):
    rows = Dataset.objects.annotate(n=Count("contexts")).order_by("name")
    return [dataset_out(d, d.n) for d in rows]


def _name_problems(name: str) -> list[Problem]:
    try:
        validate_slug(name)
    except ValidationError:
        return [Problem("name", f"must be a slug (letters, digits, '-', '_'), not {name!r}")]
    if len(name) > DATASET_NAME.max_length:
        return [Problem("name", f"at most {DATASET_NAME.max_length} characters")]
    return []


def _options(format: str, mapping: list[str]) -> tuple[dict, list[Problem]]:
    try:
        pairs, _deprecations = read_map(mapping, format)
        return parse_options(pairs), []
    except (MapError, DatasetImportError) as error:
        return {}, [Problem("map", str(error))]


@router.post(
    "/datasets",
    response={201: DatasetImported, 400: Problems},
    summary="Import a dataset file (multipart), atomically",
)
def upload_dataset(
    request: HttpRequest,
    file: File[UploadedFile],
    name: Form[str],
    format: Form[str],
    map: Form[list[str]] = [],  # noqa: B006 - ninja reads the default, never changes it
    skip_bad: Form[bool] = False,
):
    """``format``: empathetic_dialogues, prosocial_dialog, real_toxicity_prompts, csv or
    jsonl (generation.importers). ``map`` (repeatable): ``SOURCE=FIELD`` to map a
    column of a generic CSV/JSONL (``uid=id``), or ``OPTION=VALUE`` for the format's
    options. ``skip_bad``: skip malformed rows (counted) instead of refusing the file."""
    problems = _name_problems(name)
    if format not in IMPORTERS:
        problems.append(Problem("format", f"{format!r} is not one of {FORMATS}"))
    if problems:
        return Status(400, {"problems": problem_dicts(problems)})
    options, problems = _options(format, map)
    if problems:
        return Status(400, {"problems": problem_dicts(problems)})
    root = Path(settings.VAR_DIR) / "uploads"
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".api-dataset-", dir=root))
    try:
        # Under its own name, so that a problem names the file the researcher sent.
        path = folder / (Path(file.name or "").name or "upload")
        with path.open("wb") as out:
            for chunk in file.chunks():
                out.write(chunk)
        dataset, report = import_dataset(format, path, name, skip_bad=skip_bad, options=options)
    except DatasetExists as error:
        return Status(400, {"problems": problem_dicts([Problem("name", str(error))])})
    except DatasetImportError as error:
        return Status(
            400, {"problems": problem_dicts([Problem("file", f"{error} (nothing imported)")])}
        )
    except IntegrityError as error:
        reason = f"{file.name}: duplicate context id ({error}); nothing was imported"
        return Status(400, {"problems": problem_dicts([Problem("file", reason)])})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    Dataset.objects.filter(pk=dataset.pk).update(source_path=f"upload: {file.name}")
    return Status(
        201,
        {
            **dataset_out(dataset, report.contexts),
            "skipped": report.skipped_total,
            "skipped_rows": [str(p) for p in report.skipped[:20]],
        },
    )
