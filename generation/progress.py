"""Publishing a job's progress, best effort (never failing a task): the Celery task state, the
channel-layer group `generation-job-{id}` and in-process listeners (see JOBS.md)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

from asgiref.sync import async_to_sync
from channels import layers

from .selectors import JobProgress

log = logging.getLogger(__name__)

_listeners: list[Callable[[JobProgress], None]] = []


@contextlib.contextmanager
def listen(callback: Callable[[JobProgress], None]) -> Iterator[None]:
    """Call `callback` with every progress report published in this process (e.g. a progress
    bar while an eager dispatch runs the chunks in-process)."""
    _listeners.append(callback)
    try:
        yield
    finally:
        _listeners.remove(callback)


def progress_group(job_id: int) -> str:
    """The channel-layer group that receives a job's progress events."""
    return f"generation-job-{job_id}"


def publish_progress(
    progress: JobProgress, report: Callable[[int, int], None] | None = None
) -> None:
    """Celery task state (via `report`), the channel layer group and local listeners; never raises."""
    if report is not None:
        try:
            report(progress.done, progress.total)
        except Exception:  # pragma: no cover - best effort
            log.warning("could not update the task state of job %s", progress.job_id, exc_info=True)
    try:
        layer = layers.get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(
                progress_group(progress.job_id),
                {"type": "generation.progress", **progress.as_dict()},
            )
    except Exception:
        log.warning("could not publish the progress of job %s", progress.job_id, exc_info=True)
    for callback in list(_listeners):
        try:
            callback(progress)
        except Exception:  # pragma: no cover - best effort
            log.warning("progress listener failed", exc_info=True)
