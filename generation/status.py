"""A job's status transitions, shared by the services and the worker.

Each is one conditional UPDATE, so concurrent chunks, a cancel and a resume cannot overwrite
each other: a cancelled job stays cancelled, a completed one stays completed.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from .models import GenerationJob
from .selectors import TERMINAL, Status, job_progress, job_status


def mark_running(job_id: int, started_at: datetime | None = None) -> None:
    """Pending -> running (the dispatch, or the first chunk, starts it); a resumed job keeps
    the `started_at` of its first run."""
    GenerationJob.objects.filter(pk=job_id, status=Status.PENDING).update(
        status=Status.RUNNING, started_at=started_at or timezone.now()
    )


def mark_failed(job_id: int, message: str) -> None:
    GenerationJob.objects.filter(pk=job_id).exclude(
        status__in=(Status.COMPLETED, Status.CANCELLED)
    ).update(
        status=Status.FAILED,
        error=message.replace("\x00", "\ufffd")[:5000],
        finished_at=timezone.now(),
    )


def mark_cancelled(job_id: int) -> None:
    GenerationJob.objects.filter(pk=job_id).exclude(status__in=TERMINAL).update(
        status=Status.CANCELLED, finished_at=timezone.now()
    )


def mark_completed_if_done(job_id: int) -> bool:
    """Completed once every key is stored (a cancelled job stays cancelled)."""
    progress = job_progress(job_id)
    if progress.done < progress.total:
        return False
    updated = GenerationJob.objects.filter(
        Q(pk=job_id) & Q(status__in=(Status.PENDING, Status.RUNNING, Status.FAILED))
    ).update(status=Status.COMPLETED, finished_at=timezone.now(), error="")
    return bool(updated) or job_status(job_id) == Status.COMPLETED
