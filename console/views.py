"""Researcher console pages shared across apps: studies, live progress, quality so far,
downloads of the raw judgments and of the results bundle."""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from analysis.models import StudyResults
from analysis.results_cache import display_table
from analysis.tasks import request_results
from annotation.export import judgment_rows, write_rows
from annotation.links import study_link
from annotation.models import Assignment, Judgment, Study
from annotation.selectors import study_progress

from . import design_tables
from .access import can_watch_jobs, role_of, study_for, visible_studies
from .results import options_query, page_options

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
            "design": design_tables.design_view((study.design_report or {}).get("report")),
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
        "agreement": display_table(readable("agreement", run.result.agreement, context)),
        "quality": display_table(
            readable("annotator_quality", run.result.annotator_quality, context)
        ),
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
# judgments × dimensions rows written per chunk of a streamed download
ROWS_PER_CHUNK = 1000
JUDGMENT_FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


@login_required
def study_judgments_csv(request: HttpRequest, study_name: str) -> StreamingHttpResponse:
    """The long-format export (pseudonymised), as `export_judgments` writes it, streamed:
    formula cells escaped for spreadsheets, unless `?formula_escape=0` (text as stored, for
    analysis pipelines; like `export_judgments --no-formula-escape`)."""
    return _judgments_download(request, study_name, "csv")


@login_required
def study_judgments_jsonl(request: HttpRequest, study_name: str) -> StreamingHttpResponse:
    """The long-format export as JSON lines (never formula-escaped), streamed."""
    return _judgments_download(request, study_name, "jsonl")


def _judgments_download(request: HttpRequest, study_name: str, fmt: str) -> StreamingHttpResponse:
    study = study_for(request, study_name, "view")
    escape = request.GET.get("formula_escape", "1").strip().lower() not in FALSE_WORDS
    return judgments_response(request, study, fmt, escape_formulas=escape)


def judgments_response(
    request: HttpRequest, study: Study, fmt: str, *, escape_formulas: bool = True
) -> StreamingHttpResponse:
    """The judgments file of `study` as a streamed download (the console's and the API's)."""
    chunks = judgment_chunks(study, fmt, escape_formulas=escape_formulas)
    response = StreamingHttpResponse(
        _async_chunks(chunks) if isinstance(request, ASGIRequest) else chunks,
        content_type=JUDGMENT_FORMATS[fmt],
    )
    response["Content-Disposition"] = f'attachment; filename="{study.name}-judgments.{fmt}"'
    return response


def judgment_chunks(study: Study, fmt: str, *, escape_formulas: bool = True) -> Iterator[str]:
    """The export file of `study` in pieces of ROWS_PER_CHUNK rows, each written by
    `annotation.export.write_rows` (its formula escaping, its JSON), the CSV header once,
    read from the database as it is sent (`judgment_rows` streams)."""
    rows = judgment_rows(study, salt=settings.EXPORT_PSEUDONYM_SALT)
    started = False
    while (chunk := list(itertools.islice(rows, ROWS_PER_CHUNK))) or not started:
        out = io.StringIO()
        write_rows(chunk, out, fmt, escape_formulas=escape_formulas)
        text = out.getvalue()
        if fmt == "csv" and started:
            text = text.split("\n", 1)[1]  # the header line (column names hold no newline)
        started = True
        if text:
            yield text


async def _async_chunks(chunks: Iterator[str]) -> AsyncIterator[str]:
    """The chunks for an ASGI server, each read in the sync thread the ORM runs in (a sync
    iterator would be read whole into memory before the first byte is sent)."""
    step = sync_to_async(next, thread_sensitive=True)
    while (text := await step(chunks, None)) is not None:
        yield text


@login_required
def study_results_zip(request: HttpRequest, study_name: str) -> HttpResponse:
    """The results bundle of the full analysis (`manage.py analyze` with the options of the
    results page: `?alternative=`, `?family=`, `?exclude_flagged=`) as a zip file, from the
    cached results. Computed now when there are none (in this process without a broker);
    with a broker, a bundle not ready yet sends the browser to the results page, which
    says so and reloads when it is."""
    study = study_for(request, study_name, "view")
    form, options = page_options(request)
    if options is None:
        return HttpResponse(
            "; ".join(form.problems()), status=400, content_type="text/plain; charset=utf-8"
        )
    row = request_results(study, options)
    if row.status == StudyResults.Status.FAILED:
        return HttpResponse(
            f"cannot analyse {study.name} yet: {row.error}",
            status=409,
            content_type="text/plain; charset=utf-8",
        )
    if row.status != StudyResults.Status.READY:
        page = reverse("console-study-results", args=[study.name])
        query = options_query(options)
        return redirect(f"{page}?{query}" if query else page)
    response = HttpResponse(bytes(row.bundle_zip), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{study.name}-results.zip"'
    return response
