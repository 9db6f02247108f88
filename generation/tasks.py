"""Celery tasks of the generation app: thin wrappers over generation.jobs.

`generate_chunk` is routed to the `gpu` queue (settings.CELERY_TASK_ROUTES) and acknowledged
late: a worker killed mid-chunk leaves the message to be delivered again, and the chunk's
conflict-ignoring inserts make a second run harmless (see JOBS.md).
"""

from __future__ import annotations

import logging

from celery import shared_task

from . import jobs

log = logging.getLogger(__name__)


@shared_task(bind=True, name="generation.tasks.generate_chunk", acks_late=True, reject_on_worker_lost=True)
def generate_chunk(self, job_id: int, context_ids: list[int], token: str | None = None) -> dict:
    """Generate the missing candidates of `context_ids` (one chunk of job `job_id`)."""

    def report(done: int, total: int) -> None:
        if self.request.id:
            self.update_state(state="PROGRESS", meta={"job": job_id, "done": done, "total": total})

    return jobs.run_chunk(job_id, list(context_ids), token, task_id=self.request.id, report=report)
