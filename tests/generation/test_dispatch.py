"""With a broker, chunk tasks are sent when the transaction that dispatched them commits (a
worker in another process must see the job); eager dispatch runs them at once, in-process."""

from __future__ import annotations

import pytest
from django.db import transaction

from generation import selectors, services, tasks
from generation.models import Context, Dataset, System

pytestmark = pytest.mark.django_db


@pytest.fixture
def job():
    system = System.objects.create(
        name="sys", kind="hf_causal", config={"path": "/m", "decoding": {}}
    )
    dataset = Dataset.objects.create(name="ds", format="jsonl")
    Context.objects.bulk_create(
        [
            Context(dataset=dataset, external_id=f"c{i}", turns=[{"speaker": "S", "text": "hi"}])
            for i in range(3)
        ]
    )
    return services.create_job(system, Context.objects.all(), chunk_size=2)


def test_with_a_broker_chunks_are_sent_on_commit(
    job, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(services, "is_eager", lambda: False)
    monkeypatch.setattr(
        tasks.generate_chunk, "apply_async", lambda args, task_id: sent.append((args, task_id))
    )
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            task_ids = services.dispatch_job(job)
            assert sent == []  # not before the commit
    assert len(callbacks) == 1 and [t for _, t in sent] == task_ids
    assert [args[1] for args, _ in sent] == selectors.chunks_of(job) and len(sent) == 2
    assert all(args[0] == job.pk and args[2] == str(job.token) for args, _ in sent)
    job.refresh_from_db()
    assert job.status == "running" and job.celery_task_ids == task_ids
