"""Reads of the generation app: a job's progress, its chunks and what is still missing.

Progress is derived from the stored candidates, never counted, so no counter can drift
(see JOBS.md): done = the job's candidates, total = its contexts x samples_per_context.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .models import Candidate, GenerationJob, System
from .validation import backend_spec

Status = GenerationJob.Status
TERMINAL = (Status.COMPLETED, Status.CANCELLED, Status.FAILED)


class JobError(Exception):
    """A job cannot be created or run as asked (the message says why)."""


@dataclass(frozen=True)
class JobProgress:
    job_id: int
    status: str
    done: int
    total: int
    error: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "status": self.status,
            "done": self.done,
            "total": self.total,
            "error": self.error,
        }


def job_progress(job: GenerationJob | int) -> JobProgress:
    job_id = job.pk if isinstance(job, GenerationJob) else int(job)
    row = (
        GenerationJob.objects.filter(pk=job_id)
        .values("status", "samples_per_context", "error")
        .first()
    )
    if row is None:
        raise JobError(f"no generation job {job_id}")
    total = GenerationJob.contexts.through.objects.filter(generationjob_id=job_id).count()
    done = Candidate.objects.filter(generation_job_id=job_id).count()
    return JobProgress(
        job_id, row["status"], done, total * row["samples_per_context"], row["error"]
    )


def job_status(job_id: int) -> str | None:
    return GenerationJob.objects.filter(pk=job_id).values_list("status", flat=True).first()


def job_context_ids(job: GenerationJob) -> list[int]:
    return sorted(job.contexts.values_list("pk", flat=True))


def chunks_of(job: GenerationJob) -> list[list[int]]:
    """The job's context ids, in id order, cut into chunks of `chunk_size`."""
    ids = job_context_ids(job)
    return [ids[i : i + job.chunk_size] for i in range(0, len(ids), job.chunk_size)]


def stored_counts(job_id: int, context_ids: Iterable[int] | None = None) -> dict[int, int]:
    """{context id: candidates stored} of a job (contexts with none are left out)."""
    qs = Candidate.objects.filter(generation_job_id=job_id)
    if context_ids is not None:
        qs = qs.filter(context_id__in=list(context_ids))
    counts: dict[int, int] = {}
    for cid in qs.values_list("context_id", flat=True):
        counts[cid] = counts.get(cid, 0) + 1
    return counts


def missing_chunks(job: GenerationJob) -> list[list[int]]:
    """The chunks with at least one missing (context, sample) key."""
    counts = stored_counts(job.pk)
    return [c for c in chunks_of(job) if any(counts.get(i, 0) < job.samples_per_context for i in c)]


def matching_job(
    system: System, config: dict[str, Any], context_ids: list[int]
) -> GenerationJob | None:
    """The latest job of `system` with the same backend, decoding parameters, samples and
    contexts as `config` asks (so a re-run reuses or resumes it instead of generating twice)."""
    spec = backend_spec(system.kind, system.config)
    recent = GenerationJob.objects.filter(
        system=system, samples_per_context=config["samples_per_context"]
    ).order_by("-id")[:50]
    for job in recent:
        if (
            job.decoding == config["decoding"]
            and job.backend_spec == spec
            and job_context_ids(job) == context_ids
        ):
            return job
    return None
