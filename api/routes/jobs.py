"""Generation jobs: a system's responses to a dataset's contexts, made by the workers
(in this process without a broker). Create, read the status, cancel, resume."""

from __future__ import annotations

import logging

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from core.problems import Problem
from generation.models import Context, Dataset, GenerationJob
from generation.selectors import JobError, job_progress
from generation.services import cancel_job, create_job, dispatch_job, resume_job

from ..schemas import JobIn, JobOut, Message, Problems
from .studies import problem_dicts

router = Router(tags=["generation jobs"])
log = logging.getLogger(__name__)


def job_out(job: GenerationJob) -> dict:
    progress = job_progress(job)
    return {
        "id": job.pk,
        "system": job.system.name,
        "dataset": job.dataset.name,
        "status": progress.status,
        "done": progress.done,
        "total": progress.total,
        "error": progress.error,
        "created_at": job.created_at,
    }


def _job(job_id: int) -> GenerationJob:
    return get_object_or_404(GenerationJob.objects.select_related("system", "dataset"), pk=job_id)


@router.get("/jobs", response=list[JobOut], summary="The newest generation jobs")
def list_jobs(request: HttpRequest):
    jobs = GenerationJob.objects.select_related("system", "dataset").order_by("-id")[:100]
    return [job_out(j) for j in jobs]


def _context_pks(body: JobIn) -> tuple[list[int], list[Problem]]:
    dataset = Dataset.objects.filter(name=body.dataset).first()
    if dataset is None:
        return [], [Problem("dataset", f"no dataset named {body.dataset!r}")]
    contexts = Context.objects.filter(dataset=dataset)
    if body.context_ids is not None:
        contexts = contexts.filter(external_id__in=body.context_ids)
    found = dict(contexts.values_list("external_id", "pk"))
    missing = sorted(set(body.context_ids or ()) - set(found))
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (" ..." if len(missing) > 5 else "")
        return [], [Problem("context_ids", f"not in {dataset.name}: {shown}")]
    return list(found.values()), []


@router.post(
    "/jobs",
    response={201: JobOut, 400: Problems},
    summary="Create a generation job and dispatch it",
)
def create_generation_job(request: HttpRequest, body: JobIn):
    """The job is sent to the workers once created (without a broker it runs now, in this
    request); read its progress from ``GET /jobs/{id}``."""
    pks, problems = _context_pks(body)
    if problems:
        return Status(400, {"problems": problem_dicts(problems)})
    try:
        job = create_job(
            body.system,
            pks,
            decoding=body.decoding,
            samples_per_context=body.samples_per_context,
            chunk_size=body.chunk_size,
            batch_size=body.batch_size,
        )
    except JobError as error:
        return Status(400, {"problems": problem_dicts([Problem("(job)", str(error))])})
    _run(dispatch_job, job)
    return Status(201, job_out(_job(job.pk)))


def _run(action, job: GenerationJob) -> None:
    """Dispatch or resume: without a broker the chunks run here, and one that fails marks
    the job failed with its error, which the answer shows (resume after fixing the cause)."""
    try:
        action(job)
    except JobError:
        raise
    except Exception:  # noqa: BLE001 - eager: the job row says what failed
        log.warning("generation job %s failed while dispatched", job.pk, exc_info=True)


@router.get("/jobs/{job_id}", response={200: JobOut, 404: Message})
def get_job(request: HttpRequest, job_id: int):
    return job_out(_job(job_id))


@router.post("/jobs/{job_id}/cancel", response={200: JobOut, 404: Message})
def cancel_generation_job(request: HttpRequest, job_id: int):
    """Stops the job's chunks between sub-batches; the responses made so far are kept."""
    return job_out(cancel_job(_job(job_id)))


@router.post("/jobs/{job_id}/resume", response={200: JobOut, 404: Message})
def resume_generation_job(request: HttpRequest, job_id: int):
    """Dispatches only what is still missing (after a cancel, a failure or a crash)."""
    job = _job(job_id)
    _run(resume_job, job)
    return job_out(_job(job.pk))
