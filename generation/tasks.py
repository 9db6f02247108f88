"""Celery tasks of the generation app: thin wrappers over generation.worker.

`generate_chunk` goes to the `gpu` queue and is acknowledged late (settings: CELERY_TASK_ROUTES,
CELERY_TASK_ACKS_LATE, CELERY_TASK_REJECT_ON_WORKER_LOST): a worker killed mid-chunk leaves the
message to be delivered again, and the chunk's conflict-ignoring inserts make a second run
harmless (see JOBS.md). Its result (the chunk's summary) is kept (CELERY_TASK_ANNOTATIONS).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from . import worker


@shared_task(bind=True, name="generation.tasks.generate_chunk")
def generate_chunk(
    self: Any, job_id: int, context_ids: list[int], token: str | None = None
) -> dict[str, Any]:
    """Generate the missing candidates of `context_ids` (one chunk of job `job_id`)."""

    def report(done: int, total: int) -> None:
        if self.request.id:
            self.update_state(state="PROGRESS", meta={"job": job_id, "done": done, "total": total})

    return worker.run_chunk(
        job_id, list(context_ids), token, task_id=self.request.id, report=report
    )
