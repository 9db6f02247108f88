"""Celery tasks of the analysis app: the full analysis of a study, computed off the request
and kept in ``analysis.results_cache`` (queue: the default one, never ``gpu``).

Without a broker (the embedded default, CELERY_TASK_ALWAYS_EAGER) the task runs in this
process, now, and :func:`request_results` returns the finished row; with a broker it is
sent once the current transaction commits (the worker must see the row) and the page shows
that it is being computed until a worker has stored it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import shared_task
from django.db import transaction

from annotation.models import Study
from generation.services import is_eager

from . import results_cache
from .models import StudyResults


@shared_task(name="analysis.tasks.compute_study_results")
def compute_study_results(row_id: int) -> str:
    """Compute and store the cached results row `row_id`; returns its status."""
    return results_cache.compute(row_id)


def request_results(study: Study, options: Mapping[str, Any]) -> StudyResults:
    """The cached results of `study` × `options` at its current judgment count, dispatching
    their computation when they are not there yet (or their task was lost)."""
    row, needed = results_cache.row_for(study, options)
    if needed:
        if is_eager():
            compute_study_results.apply(args=(row.pk,), throw=True)
        else:
            row_id = row.pk
            transaction.on_commit(lambda: compute_study_results.apply_async(args=(row_id,)))
        row.refresh_from_db()
    return row
