"""Studies: list, validate a spec, create one (a draft, its creator its owner), change its
status; its progress, judgments (streamed) and results (the cached analysis).

Every route that names a study asks console.access (``study_for``), so a study the caller
is not a member of is a 404 — never a 403, which would say it exists.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from ninja import File, Form, Router, Status, UploadedFile

from analysis.models import StudyResults
from analysis.tasks import request_results
from annotation.models import Study
from annotation.selectors import study_progress
from console import access
from console.dataset_contexts import contexts_upload
from console.editor import create_draft, next_status
from console.results import page_options
from console.spec_editing import EditorProblem, check_source
from console.views import judgments_response
from core.problems import Problem

from ..schemas import (
    SPEC_REF,
    Message,
    Problems,
    ProgressOut,
    ResultsOut,
    ResultsPending,
    SpecCheck,
    StatusChange,
    StudyOut,
)

router = Router(tags=["studies"])

NOT_FOUND = {404: Message}
# The two ways a spec is sent to be checked: as JSON (the spec itself), or its YAML text.
SPEC_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": SPEC_REF}},
            "application/yaml": {"schema": {"type": "string", "description": "the spec as YAML"}},
        },
    }
}


def problem_dicts(problems: Iterable[EditorProblem | Problem]) -> list[dict[str, Any]]:
    return [
        {
            "field": p.field,
            "reason": p.reason,
            "line": getattr(p, "line", None),
            "text": f"{p.field}: {p.reason}",
        }
        for p in problems
    ]


def study_out(study: Study, user) -> dict[str, Any]:
    return {
        "name": study.name,
        "title": study.title,
        "protocol": study.protocol,
        "status": study.status,
        "spec_hash": study.spec_hash,
        "overlap": study.overlap,
        "created_at": study.created_at,
        "role": access.role_of(user, study),
    }


@router.get("/studies", response=list[StudyOut], summary="The studies you may see")
def list_studies(request: HttpRequest):
    return [study_out(s, request.user) for s in access.visible_studies(request.user)]


def _spec_text(request: HttpRequest) -> tuple[str | None, list[EditorProblem]]:
    """The spec text of a request body: YAML text, or JSON (the spec itself, which is YAML
    too, so the lines of problems are those of the body; or one string of YAML)."""
    try:
        text = request.body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, [EditorProblem("(request)", "the body is not UTF-8 text")]
    if request.content_type == "application/json":
        try:
            data = json.loads(text)
        except ValueError as error:
            return None, [EditorProblem("(request)", f"the body is not JSON ({error})")]
        if isinstance(data, str):
            return data, []
    return text, []


@router.post(
    "/studies/validate",
    response={200: SpecCheck},
    openapi_extra=SPEC_BODY,
    summary="Check a spec (JSON or YAML) without creating anything",
)
def validate_spec(request: HttpRequest):
    """Every problem of the spec as ``field.path: reason``, with its line: the published
    JSON Schema and the full validation (the data files are checked on create, where they
    are uploaded)."""
    text, problems = _spec_text(request)
    if text is not None:
        problems = check_source(text, None)
    return {"valid": not problems, "problems": problem_dicts(problems)}


@router.post(
    "/studies",
    response={201: StudyOut, 400: Problems},
    summary="Create a study (a draft) from a spec and its data files",
)
def create_study(
    request: HttpRequest,
    spec: Form[str],
    dataset: Form[str | None] = None,
    files: File[list[UploadedFile]] = None,  # type: ignore[assignment]
):
    """The spec (YAML or JSON text) and the data files it names (multipart), or
    ``dataset``: an imported dataset whose contexts fill the spec's ``contexts.file``. The
    study is a draft until opened; you are its owner (console.editor.create_draft, as in
    the console). Nothing is created on a problem."""
    uploads = list(files or [])
    if dataset:
        extra, problems = contexts_upload(dataset, spec)
        if problems:
            return Status(400, {"problems": problem_dicts(problems)})
        uploads += extra
    study, problems = create_draft(request.user, spec, uploads)
    if study is None:
        return Status(400, {"problems": problem_dicts(problems)})
    return Status(201, study_out(study, request.user))


@router.get("/studies/{name}", response={200: StudyOut, **NOT_FOUND})
def get_study(request: HttpRequest, name: str):
    return study_out(access.study_for(request, name, "view"), request.user)


@router.post(
    "/studies/{name}/status",
    response={200: StudyOut, 409: Message, **NOT_FOUND},
    summary="Open, pause or close a study (editors)",
)
def change_status(request: HttpRequest, name: str, change: StatusChange):
    """Opening a draft freezes its spec; a change the study's status does not allow is a
    409 saying why."""
    study = access.study_for(request, name, "edit")
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        target, said = next_status(locked.status, change.action)
        if target is not None:
            locked.status = target
            locked.save(update_fields=["status"])
    if target is None:
        return Status(409, {"detail": said})
    return Status(200, study_out(locked, request.user))


@router.get("/studies/{name}/progress", response={200: ProgressOut, **NOT_FOUND})
def get_progress(request: HttpRequest, name: str):
    return study_progress(access.study_for(request, name, "view"))


@router.get(
    "/studies/{name}/judgments",
    response=NOT_FOUND,
    openapi_extra={
        "responses": {
            "200": {
                "description": "The long-format export (pseudonymised), streamed",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                },
            }
        }
    },
    summary="The judgments, as the console's download (CSV or JSON lines, streamed)",
)
def export_judgments(
    request: HttpRequest,
    name: str,
    format: Literal["csv", "jsonl"] = "csv",
    formula_escape: bool = True,
):
    """CSV text cells that a spreadsheet would run as a formula are escaped, as in the
    console's download, unless ``formula_escape=false`` (text as stored, for analysis
    pipelines). JSON lines are never escaped."""
    study = access.study_for(request, name, "view")
    return judgments_response(request, study, format, escape_formulas=formula_escape)


@router.get(
    "/studies/{name}/results",
    response={200: ResultsOut, 202: ResultsPending, 400: Problems, 409: Message, **NOT_FOUND},
    summary="The full analysis (as the results page), computed as a task and cached",
)
def get_results(
    request: HttpRequest,
    name: str,
    alternative: Literal["two-sided", "greater", "less"] = "two-sided",
    family: Literal["per_dimension", "all"] = "per_dimension",
    exclude_flagged: bool = False,
):
    """202 with the status while the analysis is computed (ask again); 409 when the study
    cannot be analysed yet (the reason). Cached per options and judgment count."""
    study = access.study_for(request, name, "view")
    form, options = page_options(request)
    if options is None:
        return Status(400, {"problems": problem_dicts(_form_problems(form))})
    row = request_results(study, options)
    if row.status == StudyResults.Status.FAILED:
        return Status(409, {"detail": f"cannot analyse {study.name} yet: {row.error}"})
    if row.status != StudyResults.Status.READY:
        return Status(202, {"status": row.status, "judgment_count": row.judgment_count})
    data = row.data or {}
    return Status(
        200,
        {
            "status": "ready",
            "judgment_count": row.judgment_count,
            "options": row.options,
            "analysis": data.get("analysis", {}),
            "tables": data.get("tables", {}),
            "methods": data.get("methods", []),
            "figures": sorted(data.get("plots", {})),
        },
    )


def _form_problems(form) -> list[Problem]:
    return [Problem(field, reason) for field, reasons in form.errors.items() for reason in reasons]
