"""Researcher console pages shared across apps: studies, live progress, quality so far,
downloads of the raw judgments and of the results bundle."""

from __future__ import annotations

import io
import logging
import tempfile
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from annotation.export import judgment_rows, write_rows
from annotation.links import study_link
from annotation.models import Assignment, Judgment, Study
from annotation.selectors import study_progress

from .access import can_watch_jobs, role_of, study_for, visible_studies

log = logging.getLogger(__name__)

# "So far" figures on the study page are for watching, not for the paper: fewer resamples.
LIVE_ANALYSIS_OPTIONS = {"n_permutations": 200, "n_bootstrap": 200}


def home(request: HttpRequest) -> HttpResponse:
    return redirect(reverse("console"))


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    studies = [
        {
            "study": s,
            "progress": study_progress(s),
            "link": study_link(s.name, request),
        }
        for s in visible_studies(request.user)
    ]
    return render(request, "console/study_list.html", {"studies": studies})


@login_required
def study_detail(request: HttpRequest, study_name: str) -> HttpResponse:
    study = study_for(request, study_name, "view")
    leases = (
        Assignment.objects.filter(participant__study=study, status=Assignment.Status.ACTIVE)
        .select_related("participant", "slot__batch")
        .order_by("lease_expires_at")
    )
    return render(
        request,
        "console/study_detail.html",
        {
            "study": study,
            "progress": study_progress(study),
            "link": study_link(study.name, request),
            "leases": [
                {
                    "assignment": a,
                    "judged": a.judgments.count(),
                    "minutes_left": max(
                        0, round((a.lease_expires_at - timezone.now()).total_seconds() / 60)
                    ),
                }
                for a in leases[:50]
            ],
            "so_far": _quality_so_far(study),
            "my_role": role_of(request.user, study),
        },
    )


def _quality_so_far(study: Study) -> dict:
    """Agreement and annotator quality on the judgments so far (a quick analysis), as the
    bundle's readable tables show them (analysis.tables.readable): dimension labels, Yes /
    No, and a footnote for every missing value."""
    if Judgment.objects.filter(study=study).count() < 2:
        return {"error": "no analysis until at least two judgments are in"}
    from analysis.api import analyze_study
    from analysis.tables import TableContext, readable

    try:
        # Real platform ids here: researchers act on them (approve, reject, contact).
        run = analyze_study(study, None, pseudonymise=False, **LIVE_ANALYSIS_OPTIONS)
    except Exception as error:  # noqa: BLE001 - too little data is normal early on
        log.info("live analysis of %s failed: %s", study.name, error)
        return {"error": f"not enough data for an analysis yet ({error})"}
    context = TableContext.from_result(run.result)
    return {
        "agreement": _display(readable("agreement", run.result.agreement, context)),
        "quality": _display(readable("annotator_quality", run.result.annotator_quality, context)),
    }


def _display(table) -> dict:
    """Headers, rows of {text, marker} and footnotes of a readable table, for a template
    (a missing value is "–" with the marker of the footnote that says why)."""
    reasons = dict(table.notes)
    return {
        "columns": table.headers,
        "rows": [
            [
                {
                    "text": "–" if c.text is None else c.text,
                    "marker": c.marker or "",
                    "why": reasons.get(c.marker, ""),
                }
                for c in row
            ]
            for row in table.rows
        ],
        "notes": [{"marker": m, "text": why} for m, why in table.notes],
        "remarks": table.remarks,
    }


@login_required
def generation_jobs(request: HttpRequest) -> HttpResponse:
    """Generation jobs with their progress, updated live over WebSockets."""
    if not can_watch_jobs(request.user):
        raise Http404("No generation jobs")
    from generation.models import GenerationJob
    from generation.selectors import job_progress

    jobs = []
    for job in GenerationJob.objects.select_related("system", "dataset").order_by("-id")[:100]:
        progress = job_progress(job)
        jobs.append({"job": job, "progress": progress, "percent": round(100 * progress.fraction)})
    return render(request, "console/generation_jobs.html", {"jobs": jobs})


@login_required
def study_progress_json(request: HttpRequest, study_name: str) -> JsonResponse:
    study = study_for(request, study_name, "view")
    return JsonResponse(study_progress(study))


# what turns a download's yes/no query parameter off (`?formula_escape=0`)
FALSE_WORDS = {"0", "false", "no", "off"}


@login_required
def study_judgments_csv(request: HttpRequest, study_name: str) -> HttpResponse:
    """The long-format export (pseudonymised), as `export_judgments` writes it: formula
    cells escaped for spreadsheets, unless `?formula_escape=0` (text as stored, for
    analysis pipelines; like `export_judgments --no-formula-escape`)."""
    study = study_for(request, study_name, "view")
    escape = request.GET.get("formula_escape", "1").strip().lower() not in FALSE_WORDS
    out = io.StringIO()
    rows = judgment_rows(study, salt=settings.EXPORT_PSEUDONYM_SALT)
    write_rows(rows, out, "csv", escape_formulas=escape)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{study.name}-judgments.csv"'
    return response


@login_required
def study_results_zip(request: HttpRequest, study_name: str) -> HttpResponse:
    """The full results bundle (`manage.py analyze` with default options) as a zip file."""
    study = study_for(request, study_name, "view")
    from analysis.api import analyze_study

    with tempfile.TemporaryDirectory() as tmp:
        try:
            analyze_study(study, Path(tmp) / "results")
        except ValueError as error:
            return HttpResponse(
                f"cannot analyse {study.name} yet: {error}",
                status=409,
                content_type="text/plain; charset=utf-8",
            )
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            root = Path(tmp) / "results"
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    archive.write(path, f"{study.name}-results/{path.relative_to(root)}")
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{study.name}-results.zip"'
    return response
