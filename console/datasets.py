"""Datasets in the console: the list, an upload (the importers' located problems shown in the
page, nothing imported on error) and a dataset's contexts as annotators see them.

Datasets are the lab's shared resources (console.access): any logged-in researcher may
upload one and see them all, since studies name them. An upload is kept under
``VAR_DIR/uploads`` only while it is imported, and refused past ``UPLOAD_BYTES``. (Django
has parsed the request before the view runs: evalsite.input_guard reads every form; the
bound on a request's size belongs to the proxy in front, e.g. nginx's client_max_body_size.)
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from core.limits import DATASET_NAME
from core.source_map import MapError
from generation.datasets import PROBLEMS_SHOWN, import_uploaded_dataset
from generation.importers import (
    COLUMN_OPTIONS,
    IMPORTERS,
    DatasetImportError,
    importer_options,
    parse_options,
    read_map,
)
from generation.models import Dataset, GenerationJob

from .access import is_researcher
from .generation_views import generated_systems

#: The largest dataset file the console takes (a bigger one: `manage.py import_dataset`).
UPLOAD_BYTES = 200 * 1024 * 1024
CONTEXTS_PER_PAGE = 20
FORMAT_LABELS = {
    "empathetic_dialogues": "EmpatheticDialogues CSV (train.csv, valid.csv, test.csv)",
    "prosocial_dialog": "ProsocialDialog JSON or JSON Lines",
    "real_toxicity_prompts": "RealToxicityPrompts JSON Lines (prompts.jsonl)",
    "csv": "Generic CSV, with a column mapping",
    "jsonl": "Generic JSON Lines, with a column mapping",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def upload_folder() -> Path:
    return Path(settings.VAR_DIR) / "uploads"


def researcher_required(view):
    """Logged in (else the login page) and an active researcher (else 404)."""

    @login_required
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not is_researcher(request.user):
            raise Http404("No such page")
        return view(request, *args, **kwargs)

    checked.__name__ = checked.__qualname__ = view.__name__
    checked.__doc__ = view.__doc__
    return checked


# --------------------------------------------------------------------------- the upload


@contextmanager
def stored_upload(uploaded: UploadedFile, limit: int | None = None) -> Iterator[Path | None]:
    """The uploaded file copied to ``uploads/<random>/<its name>`` (so the importers'
    messages name the file as the researcher knows it), removed on leaving; None when it
    is larger than `limit` bytes (default UPLOAD_BYTES; then nothing is kept)."""
    limit = UPLOAD_BYTES if limit is None else limit
    folder = upload_folder() / uuid.uuid4().hex
    folder.mkdir(parents=True)
    try:
        path = folder / safe_file_name(uploaded.name or "")
        written = 0
        with path.open("wb") as out:
            for chunk in uploaded.chunks():
                written += len(chunk)
                if written > limit:
                    break
                out.write(chunk)
        yield None if written > limit else path
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def safe_file_name(name: str) -> str:
    """The uploaded file's own name, kept to letters, digits, '.', '-' and '_' (its ending,
    e.g. ``.gz``, decides how it is read)."""
    base = _UNSAFE.sub("_", Path(name.replace("\\", "/")).name).strip("._") or "upload"
    return base[-100:]


def _format_help() -> list[dict]:
    """Per format: the columns a mapping may name and the settings, with their defaults."""
    rows = []
    for name in IMPORTERS:
        options = importer_options(name)
        columns = [
            c + (" (required)" if c == "turns" else "") for c in COLUMN_OPTIONS if c in options
        ]
        settings_ = [
            f"{k}={_shown_default(v)}" for k, v in options.items() if k not in COLUMN_OPTIONS
        ]
        rows.append(
            {
                "name": name,
                "label": FORMAT_LABELS.get(name, name),
                "columns": ", ".join(columns),
                "settings": ", ".join(settings_),
            }
        )
    return rows


def _shown_default(value) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return ",".join(map(str, value))
    return str(value)


class UploadForm(forms.Form):
    name = forms.SlugField(
        max_length=DATASET_NAME.max_length,
        help_text="A slug (letters, digits, '-', '_'): studies name the dataset by it.",
    )
    format = forms.ChoiceField(
        choices=[(name, FORMAT_LABELS.get(name, name)) for name in IMPORTERS]
    )
    mapping = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="One SOURCE=FIELD a line: the file's column SOURCE holds FIELD, one of "
        + ", ".join(COLUMN_OPTIONS)
        + " (e.g. history=turns, gold=reference, uid=id). A setting is OPTION=VALUE "
        "(e.g. turn_separator=__eou__, all_prefixes=true). turns is required for the "
        "generic formats.",
    )
    skip_bad = forms.BooleanField(
        required=False,
        label="Skip bad rows",
        help_text="Import the good rows and list the bad ones (otherwise a bad row imports nothing).",
    )
    file = forms.FileField(
        help_text=f"At most {UPLOAD_BYTES // (1024 * 1024)} MB; .gz is read too."
    )

    def importer_settings(self) -> dict[str, str] | None:
        """The importer's options from the mapping lines, or None with the problem added."""
        lines = [line.strip() for line in self.cleaned_data["mapping"].splitlines() if line.strip()]
        try:
            pairs, _notes = read_map(lines, self.cleaned_data["format"])
            return parse_options(pairs)
        except (MapError, DatasetImportError) as error:
            self.add_error("mapping", str(error))
            return None


@researcher_required
def dataset_upload(request: HttpRequest) -> HttpResponse:
    """The upload form; a POST imports the file or shows its located problems."""
    posted = request.method == "POST"
    form = UploadForm(request.POST if posted else None, request.FILES if posted else None)
    file_problems: list[str] = []
    more = 0
    if posted and form.is_valid() and (options := form.importer_settings()) is not None:
        data = form.cleaned_data
        with stored_upload(data["file"]) as path:
            if path is None:
                form.add_error(
                    "file",
                    f"the file is larger than {UPLOAD_BYTES:,} bytes; import it with "
                    "manage.py import_dataset",
                )
            else:
                outcome = import_uploaded_dataset(
                    data["format"],
                    path,
                    data["name"],
                    source=f"upload:{path.name}",
                    skip_bad=data["skip_bad"],
                    options=options,
                )
                if outcome.dataset is not None:
                    return _imported(request, outcome)
                for problem in outcome.problems:
                    if problem.field in ("name", "mapping"):
                        form.add_error(problem.field, problem.reason)
                    else:
                        file_problems.append(str(problem))
                more = outcome.problems_total - len(outcome.problems)
    return render(
        request,
        "console/dataset_upload.html",
        {
            "form": form,
            "formats": _format_help(),
            "file_problems": file_problems,
            "more_problems": more,
        },
        status=400 if posted else 200,
    )


def _imported(request: HttpRequest, outcome) -> HttpResponse:
    dataset, report = outcome.dataset, outcome.report
    messages.success(request, f"Imported {report.contexts} contexts into {dataset.name}.")
    if report.skipped_total:
        shown = "; ".join(str(p) for p in report.skipped[:PROBLEMS_SHOWN])
        extra = report.skipped_total - min(len(report.skipped), PROBLEMS_SHOWN)
        messages.warning(
            request,
            f"Skipped {report.skipped_total} bad rows: {shown}"
            + (f" (and {extra} more)" if extra > 0 else ""),
        )
    return redirect(reverse("console-dataset", args=[dataset.pk]))


# --------------------------------------------------------------------------- pages


def metadata_items(metadata: dict) -> list[tuple[str, str]]:
    """A context's metadata as (key, text) pairs: text as it is, other values as JSON."""
    return [
        (str(key), value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in (metadata or {}).items()
    ]


@researcher_required
def dataset_list(request: HttpRequest) -> HttpResponse:
    datasets = Dataset.objects.annotate(n_contexts=Count("contexts")).order_by("-created_at", "-id")
    return render(request, "console/dataset_list.html", {"datasets": datasets})


@researcher_required
def dataset_detail(request: HttpRequest, dataset_id: int) -> HttpResponse:
    """A dataset's counts, its contexts a page at a time, its generation jobs, and a form to
    launch generation over it."""
    dataset = get_object_or_404(Dataset, pk=dataset_id)
    contexts = dataset.contexts.order_by("id")
    page = Paginator(contexts, CONTEXTS_PER_PAGE).get_page(request.GET.get("page"))
    counts = {
        "contexts": contexts.count(),
        "with_reference": contexts.exclude(reference_response__isnull=True).count(),
        "jobs": dataset.generation_jobs.count(),
    }
    return render(
        request,
        "console/dataset_detail.html",
        {
            "dataset": dataset,
            "counts": counts,
            "page": page,
            "rows": [{"context": c, "metadata": metadata_items(c.metadata)} for c in page],
            "first_number": page.start_index(),
            "jobs": GenerationJob.objects.filter(dataset=dataset).select_related("system")[:20],
            "systems": generated_systems(),
        },
    )
