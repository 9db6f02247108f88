"""Generation in the console: launch a job for a system x dataset, a job's page with its live
progress (the job's WebSocket, polling when it is not there), cancel and resume.

Jobs are the lab's (console.access): any logged-in researcher may launch, watch, cancel and
resume one, as on the command line (`manage.py generate`). Without a broker the chunks run
in the request that launches or resumes the job (generation.services.dispatch_job), so the
job page then shows it finished; with one they go to the `gpu` queue when the request's
transaction commits and the page follows them live.
"""

from __future__ import annotations

import logging

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from generation import services
from generation.models import Dataset, GenerationJob, System
from generation.selectors import JobError, job_progress
from generation.validation import BACKEND_KINDS

from .access import can_watch_jobs

log = logging.getLogger(__name__)


def jobs_required(view):
    """Logged in (else the login page) and allowed to use generation (else 404)."""

    @login_required
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not can_watch_jobs(request.user):
            raise Http404("No such page")
        return view(request, *args, **kwargs)

    checked.__name__ = checked.__qualname__ = view.__name__
    checked.__doc__ = view.__doc__
    return checked


def generated_systems() -> QuerySet[System]:
    """The systems a job can generate for (hf_causal, hf_seq2seq, dexperts)."""
    return System.objects.filter(kind__in=list(BACKEND_KINDS)).order_by("name")


class LaunchForm(forms.Form):
    system = forms.ModelChoiceField(queryset=System.objects.none())
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.order_by("name"))
    limit = forms.IntegerField(
        required=False, min_value=1, help_text="Only the first N contexts (empty: all)."
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["system"].queryset = generated_systems()


def _post_only(request: HttpRequest) -> HttpResponse | None:
    return None if request.method == "POST" else HttpResponseNotAllowed(["POST"])


def _back(request: HttpRequest) -> HttpResponse:
    """Where a launch form was: the page it posted from (same site), else the jobs list."""
    back = request.POST.get("back", "")
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect(reverse("console-generation"))


@jobs_required
def launch_job(request: HttpRequest) -> HttpResponse:
    """POST: create a job of a system over a dataset's contexts (the first `limit`) and
    dispatch it; then the job's page."""
    if (refused := _post_only(request)) is not None:
        return refused
    form = LaunchForm(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"{field}: {error}")
        return _back(request)
    system, dataset, limit = (form.cleaned_data[k] for k in ("system", "dataset", "limit"))
    contexts = dataset.contexts.order_by("pk").values_list("pk", flat=True)
    try:
        job = services.create_job(system, list(contexts[:limit] if limit else contexts))
    except JobError as error:
        messages.error(request, f"Not launched: {error}")
        return _back(request)
    _run(request, job, services.dispatch_job)
    return redirect(reverse("console-job", args=[job.pk]))


def _run(request: HttpRequest, job: GenerationJob, send) -> None:
    """Dispatch (or resume) a job; without a broker its chunks run now, and one that fails
    marks the job failed: its page says why."""
    try:
        send(job)
    except JobError as error:
        messages.error(request, str(error))
    except Exception as error:  # noqa: BLE001 - eager: a chunk's error, recorded on the job
        log.warning("generation job %s failed while running in the request", job.pk, exc_info=True)
        job.refresh_from_db()
        if not job.error:
            messages.error(request, f"Job {job.pk} failed: {error}")


@jobs_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(GenerationJob.objects.select_related("system", "dataset"), pk=job_id)
    progress = job_progress(job)
    return render(
        request,
        "console/generation_job.html",
        {
            "job": job,
            "progress": progress,
            "percent": round(100 * progress.fraction),
            "may_cancel": not progress.finished,
            "may_resume": progress.status
            in (GenerationJob.Status.FAILED, GenerationJob.Status.CANCELLED),
            "may_start": progress.status == GenerationJob.Status.PENDING,
        },
    )


@jobs_required
def job_progress_json(request: HttpRequest, job_id: int) -> JsonResponse:
    """The job's progress, as its WebSocket sends it (the page polls this without one)."""
    job = get_object_or_404(GenerationJob, pk=job_id)
    return JsonResponse(job_progress(job).as_dict())


@jobs_required
def cancel_job(request: HttpRequest, job_id: int) -> HttpResponse:
    """POST: cancel the job (its chunks stop; the candidates stored are kept)."""
    job = get_object_or_404(GenerationJob, pk=job_id)
    if (refused := _post_only(request)) is not None:
        return refused
    if job.is_finished:
        messages.info(request, f"Job {job.pk} is already {job.status}.")
    else:
        services.cancel_job(job)
        messages.success(request, f"Job {job.pk} cancelled; its stored candidates are kept.")
    return redirect(reverse("console-job", args=[job.pk]))


@jobs_required
def resume_job(request: HttpRequest, job_id: int) -> HttpResponse:
    """POST: send a pending job's chunks, or again the missing ones of a failed or cancelled
    job (what is stored is not generated twice)."""
    job = get_object_or_404(GenerationJob, pk=job_id)
    if (refused := _post_only(request)) is not None:
        return refused
    if job.status == GenerationJob.Status.PENDING:
        _run(request, job, services.dispatch_job)
    elif job.status in (GenerationJob.Status.FAILED, GenerationJob.Status.CANCELLED):
        _run(request, job, services.resume_job)
    else:
        messages.info(request, f"Job {job.pk} is {job.status}: nothing to resume.")
    return redirect(reverse("console-job", args=[job.pk]))
