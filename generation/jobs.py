"""Generation jobs: create, dispatch, resume, cancel, watch; and the body of a chunk task.

The shell around the pure decoding backends (see JOBS.md beside this file). A job's work is
split into chunks of `chunk_size` contexts (by context id); each chunk is one Celery task on
the `gpu` queue that loads the system through this process's `SYSTEM_CACHE` (kept warm
across tasks), generates sub-batch by sub-batch and stores each sub-batch with conflict-
ignoring inserts keyed ``job:{job}:{context}:{sample}``. Progress is derived from the stored
candidates, so a chunk that runs twice, or a resume after a crash, leaves one candidate per key.

torch and transformers are imported only when `SYSTEM_CACHE` first loads a system, so the web
process can create, dispatch, cancel and watch jobs without them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from .backends import DecodingParameters, InvalidParameters, OutOfMemory, derive_seed
from .models import Candidate, Context, GenerationJob, System
from .validation import BACKEND_KINDS, backend_spec

log = logging.getLogger(__name__)

Status = GenerationJob.Status
TERMINAL = (Status.COMPLETED, Status.CANCELLED, Status.FAILED)
ProgressCallback = Callable[["JobProgress"], None]


class JobError(Exception):
    """A job cannot be created or run as asked (the message says why)."""


class JobTimeout(JobError):
    pass


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
        return {"job": self.job_id, "status": self.status, "done": self.done, "total": self.total,
                "error": self.error}


# ---------------------------------------------------------------------------------------------
# the warm systems of this worker process


class _LazyCache:
    """`generation.backends.SystemCache`, created on first use (importing torch only then)."""

    def __init__(self) -> None:
        self._cache = None
        self._lock = threading.Lock()

    @property
    def cache(self):
        if self._cache is None:
            with self._lock:
                if self._cache is None:
                    from .backends import SystemCache

                    self._cache = SystemCache(max_systems=int(os.environ.get("EVALSITE_WARM_SYSTEMS", "2")))
        return self._cache

    def get(self, spec):
        return self.cache.get(spec)

    @property
    def loads(self) -> int:
        return self._cache.loads if self._cache is not None else 0

    def clear(self) -> None:
        if self._cache is not None:
            self._cache.clear()


#: Loaded systems kept warm across the tasks a worker process runs (an LRU, see backends/cache.py).
SYSTEM_CACHE = _LazyCache()


# ---------------------------------------------------------------------------------------------
# progress: derived from candidates; published best effort


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


def job_progress(job: GenerationJob | int) -> JobProgress:
    job_id = job.pk if isinstance(job, GenerationJob) else int(job)
    row = GenerationJob.objects.filter(pk=job_id).values("status", "samples_per_context", "error").first()
    if row is None:
        raise JobError(f"no generation job {job_id}")
    total = GenerationJob.contexts.through.objects.filter(generationjob_id=job_id).count()
    done = Candidate.objects.filter(generation_job_id=job_id).count()
    return JobProgress(job_id, row["status"], done, total * row["samples_per_context"], row["error"])


def publish_progress(progress: JobProgress, report: Callable[[int, int], None] | None = None) -> None:
    """Celery task state (via `report`), the channel layer group and local listeners; never raises."""
    if report is not None:
        try:
            report(progress.done, progress.total)
        except Exception:  # pragma: no cover - best effort
            log.warning("could not update the task state of job %s", progress.job_id, exc_info=True)
    try:
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)(
                progress_group(progress.job_id), {"type": "generation.progress", **progress.as_dict()}
            )
    except Exception:
        log.warning("could not publish the progress of job %s", progress.job_id, exc_info=True)
    for callback in list(_listeners):
        try:
            callback(progress)
        except Exception:  # pragma: no cover - best effort
            log.warning("progress listener failed", exc_info=True)


# ---------------------------------------------------------------------------------------------
# create


def create_job(
    system: System | str,
    contexts: Iterable[Context | int],
    *,
    decoding: dict[str, Any] | None = None,
    samples_per_context: int | None = None,
    chunk_size: int | None = None,
    batch_size: int | None = None,
) -> GenerationJob:
    """A pending job over `contexts` (one dataset). `decoding` overrides the system's decoding
    parameters; the other options default to the system's config. Nothing is dispatched."""
    if isinstance(system, str):
        name = system
        system = System.objects.filter(name=name).first()
        if system is None:
            raise JobError(f"no system named {name!r}")
    if system.kind not in BACKEND_KINDS:
        raise JobError(f"system {system.name!r} is of kind {system.kind}, which is not generated")
    config = system.config or {}
    ids = sorted({c.pk if isinstance(c, Context) else int(c) for c in contexts})
    if not ids:
        raise JobError("a generation job needs at least one context")
    datasets = set(Context.objects.filter(pk__in=ids).values_list("dataset_id", flat=True))
    found = Context.objects.filter(pk__in=ids).count()
    if found != len(ids):
        raise JobError(f"{len(ids) - found} of the contexts do not exist")
    if len(datasets) != 1:
        raise JobError("the contexts of a job must come from one dataset")
    samples = samples_per_context if samples_per_context is not None else config.get("samples_per_context", 1)
    chunk = chunk_size if chunk_size is not None else config.get("chunk_size", 32)
    batch = batch_size if batch_size is not None else config.get("batch_size", 16)
    for name, value in (("samples_per_context", samples), ("chunk_size", chunk), ("batch_size", batch)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise JobError(f"{name} must be an integer >= 1, not {value!r}")
    merged = {**(config.get("decoding") or {}), **(decoding or {})}
    merged.pop("num_return_sequences", None)
    try:
        params = DecodingParameters.from_dict({**merged, "num_return_sequences": samples})
    except InvalidParameters as exc:
        raise JobError(str(exc)) from None
    stored_decoding = params.as_dict()
    stored_decoding.pop("num_return_sequences")
    with transaction.atomic():
        job = GenerationJob.objects.create(
            system=system,
            dataset_id=datasets.pop(),
            backend_spec=backend_spec(system.kind, config),
            decoding=stored_decoding,
            samples_per_context=samples,
            chunk_size=chunk,
            batch_size=batch,
        )
        through = GenerationJob.contexts.through
        through.objects.bulk_create([through(generationjob_id=job.pk, context_id=i) for i in ids], batch_size=2000)
    return job


# ---------------------------------------------------------------------------------------------
# chunks, dispatch, resume, cancel


def job_context_ids(job: GenerationJob) -> list[int]:
    return sorted(job.contexts.values_list("pk", flat=True))


def chunks_of(job: GenerationJob) -> list[list[int]]:
    """The job's context ids, in id order, cut into chunks of `chunk_size`."""
    ids = job_context_ids(job)
    return [ids[i : i + job.chunk_size] for i in range(0, len(ids), job.chunk_size)]


def _stored_counts(job_id: int, context_ids: Iterable[int] | None = None) -> dict[int, int]:
    qs = Candidate.objects.filter(generation_job_id=job_id)
    if context_ids is not None:
        qs = qs.filter(context_id__in=list(context_ids))
    counts: dict[int, int] = {}
    for cid in qs.values_list("context_id", flat=True):
        counts[cid] = counts.get(cid, 0) + 1
    return counts


def missing_chunks(job: GenerationJob) -> list[list[int]]:
    """The chunks with at least one missing (context, sample) key."""
    counts = _stored_counts(job.pk)
    return [c for c in chunks_of(job) if any(counts.get(i, 0) < job.samples_per_context for i in c)]


def is_eager() -> bool:
    from evalsite.celery import app

    return bool(app.conf.task_always_eager)


def dispatch_job(job: GenerationJob) -> list[str]:
    """Send a task per chunk that still has missing keys; returns the task ids.

    Eager (no broker): the chunks run here, now, and a chunk's exception propagates. With a
    broker: the tasks go to the `gpu` queue; follow with `wait_for_job` or `job_progress`.
    Only a pending job is dispatched; a started one is resumed (`resume_job`).
    """
    job.refresh_from_db()
    if job.status != Status.PENDING:
        raise JobError(f"job {job.pk} is {job.status}; use resume to re-dispatch its missing chunks")
    return _send(job)


def resume_job(job: GenerationJob) -> list[str]:
    """Re-dispatch only the chunks with missing keys (after a crash, a failure or a
    cancellation); a job with nothing missing is marked completed."""
    job.refresh_from_db()
    if job.status == Status.COMPLETED:
        return []
    GenerationJob.objects.filter(pk=job.pk).exclude(status=Status.COMPLETED).update(
        status=Status.PENDING, error="", finished_at=None
    )
    job.refresh_from_db()
    return _send(job)


def _send(job: GenerationJob) -> list[str]:
    from .tasks import generate_chunk

    chunks = missing_chunks(job)
    now = timezone.now()
    GenerationJob.objects.filter(pk=job.pk, status=Status.PENDING).update(
        status=Status.RUNNING, started_at=job.started_at or now
    )
    if not chunks:
        mark_completed_if_done(job.pk)
        job.refresh_from_db()
        return []
    task_ids = [f"genjob-{job.pk}-{uuid.uuid4().hex[:12]}" for _ in chunks]
    # Recorded before sending, so that a cancel arriving mid-dispatch can revoke them all.
    job.celery_task_ids = list(job.celery_task_ids or []) + task_ids
    GenerationJob.objects.filter(pk=job.pk).update(celery_task_ids=job.celery_task_ids)
    eager = is_eager()
    for task_id, chunk in zip(task_ids, chunks, strict=True):
        args = (job.pk, chunk, str(job.token))
        if eager:
            if _status(job.pk) == Status.CANCELLED:
                break
            generate_chunk.apply(args=args, task_id=task_id, throw=True)
        else:
            generate_chunk.apply_async(args=args, task_id=task_id, queue="gpu")
    job.refresh_from_db()
    return task_ids


def cancel_job(job: GenerationJob) -> GenerationJob:
    """Mark the job cancelled: its chunks check this before and between sub-batches and stop;
    queued tasks are also revoked (best effort). Stored candidates are kept."""
    GenerationJob.objects.filter(pk=job.pk).exclude(status__in=TERMINAL).update(
        status=Status.CANCELLED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    if job.celery_task_ids and not is_eager():
        try:
            from evalsite.celery import app

            app.control.revoke(list(job.celery_task_ids))
        except Exception:  # pragma: no cover - needs a broker that is down
            log.warning("could not revoke the tasks of job %s", job.pk, exc_info=True)
    publish_progress(job_progress(job))
    return job


def mark_completed_if_done(job_id: int) -> bool:
    """Completed once every key is stored (a cancelled job stays cancelled)."""
    progress = job_progress(job_id)
    if progress.done < progress.total:
        return False
    updated = GenerationJob.objects.filter(
        Q(pk=job_id) & Q(status__in=(Status.PENDING, Status.RUNNING, Status.FAILED))
    ).update(status=Status.COMPLETED, finished_at=timezone.now(), error="")
    return bool(updated) or _status(job_id) == Status.COMPLETED


def _status(job_id: int) -> str | None:
    return GenerationJob.objects.filter(pk=job_id).values_list("status", flat=True).first()


def _fail(job_id: int, message: str) -> None:
    GenerationJob.objects.filter(pk=job_id).exclude(status__in=(Status.COMPLETED, Status.CANCELLED)).update(
        status=Status.FAILED, error=message.replace("\x00", "\ufffd")[:5000], finished_at=timezone.now()
    )


def wait_for_job(
    job: GenerationJob,
    *,
    timeout: float | None = None,
    poll: float = 0.5,
    on_progress: ProgressCallback | None = None,
) -> JobProgress:
    """Poll until the job is completed, cancelled or failed; raises `JobTimeout` after `timeout` s."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last = None
    while True:
        progress = job_progress(job)
        if progress.status == Status.RUNNING and progress.done >= progress.total:
            mark_completed_if_done(job.pk)
            progress = job_progress(job)
        if on_progress is not None and progress != last:
            on_progress(progress)
        last = progress
        if progress.finished:
            return progress
        if deadline is not None and time.monotonic() >= deadline:
            raise JobTimeout(
                f"job {job.pk} is still {progress.status} after {timeout:g} s "
                f"({progress.done}/{progress.total} candidates)"
            )
        time.sleep(poll)


# ---------------------------------------------------------------------------------------------
# the body of a chunk task


def context_seed(base_seed: int, context: Context) -> int:
    """Per-context seed: stable across chunkings, workers and databases (dataset external id)."""
    return derive_seed(base_seed, "context", context.external_id)


def render_turns(context: Context) -> list[tuple[str, str]]:
    return [(str(t.get("speaker", "")), str(t.get("text", ""))) for t in context.turns]


def run_chunk(
    job_id: int,
    context_ids: list[int],
    token: str | None = None,
    *,
    task_id: str | None = None,
    report: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Generate and store the missing candidates of one chunk (the body of `generate_chunk`).

    Idempotent: contexts whose keys are all stored are skipped; inserts ignore conflicts.
    Checks for cancellation before every sub-batch. On an error the job is marked failed
    (with the message) and the error is re-raised.
    """
    job = GenerationJob.objects.select_related("system").filter(pk=job_id).first()
    if job is None or (token is not None and str(job.token) != str(token)):
        log.warning("chunk for unknown generation job %s (token %s): ignored", job_id, token)
        return {"job": job_id, "skipped": "unknown job"}
    if job.status in (Status.CANCELLED, Status.COMPLETED):
        return {"job": job_id, "skipped": job.status, "stored": 0}
    GenerationJob.objects.filter(pk=job_id, status=Status.PENDING).update(
        status=Status.RUNNING, started_at=timezone.now()
    )
    in_job = set(job.contexts.filter(pk__in=list(context_ids)).values_list("pk", flat=True))
    counts = _stored_counts(job_id, in_job)
    todo = [
        c for c in Context.objects.filter(pk__in=in_job).order_by("pk")
        if counts.get(c.pk, 0) < job.samples_per_context
    ]
    result: dict[str, Any] = {"job": job_id, "contexts": len(in_job), "generated_contexts": 0,
                              "cancelled": False, "loaded_system": False}
    try:
        if todo:
            _generate(job, todo, task_id, report, result)
    except Exception as exc:
        if isinstance(exc, OutOfMemory):
            message = f"out of memory even with one sequence per batch: {exc}"
        else:
            message = f"{type(exc).__name__}: {exc}"
        log.exception("generation job %s failed", job_id)
        _fail(job_id, message)
        publish_progress(job_progress(job_id), report)
        raise
    mark_completed_if_done(job_id)
    publish_progress(job_progress(job_id), report)
    result["cache_loads"] = SYSTEM_CACHE.loads
    return result


def _generate(job: GenerationJob, todo: list[Context], task_id, report, result: dict) -> None:
    params = DecodingParameters.from_dict({**job.decoding, "num_return_sequences": job.samples_per_context})
    loads_before = SYSTEM_CACHE.loads
    system = SYSTEM_CACHE.get(job.backend_spec)
    result["loaded_system"] = SYSTEM_CACHE.loads > loads_before
    description = system.describe()
    per_batch = max(1, job.batch_size // job.samples_per_context)
    worker = {"host": socket.gethostname(), "pid": os.getpid(), "task_id": task_id}
    for start in range(0, len(todo), per_batch):
        if _status(job.pk) == Status.CANCELLED:
            result["cancelled"] = True
            return
        sub = todo[start : start + per_batch]
        prompts = []
        for context in sub:
            try:
                prompts.append(system.render_prompt(render_turns(context)))
            except ValueError as exc:
                raise ValueError(f"context {context.external_id!r} (id {context.pk}): {exc}") from exc
        seeds = [context_seed(params.seed, c) for c in sub]
        outputs = system.generate(prompts, params, batch_size=job.batch_size, prompt_seeds=seeds)
        rows = []
        for context, prompt_seed, generated in zip(sub, seeds, outputs, strict=True):
            for g in generated:
                provenance = _provenance(job, g, params, prompt_seed, description, worker)
                text = g.text
                if "\x00" in text:
                    # PostgreSQL text cannot hold NUL; the exact output stays in token_ids.
                    provenance["nul_characters_replaced"] = text.count("\x00")
                    text = text.replace("\x00", "\ufffd")
                rows.append(Candidate(
                    system_id=job.system_id,
                    context=context,
                    sample_index=g.sample_index,
                    text=text,
                    source_key=job.source_key(context.pk, g.sample_index),
                    generation_job_id=job.pk,
                    provenance=provenance,
                ))
        with transaction.atomic():
            Candidate.objects.bulk_create(rows, ignore_conflicts=True)
        result["generated_contexts"] += len(sub)
        publish_progress(job_progress(job.pk), report)


def _provenance(job, g, params, prompt_seed: int, description: dict, worker: dict) -> dict[str, Any]:
    return {
        "source": "generation",
        "job": job.pk,
        "system": job.system.name,
        "rendered_prompt": g.rendered_prompt,
        "decoding": params.as_dict(),
        "seed": g.seed,
        "prompt_seed": prompt_seed,
        "sample_index": g.sample_index,
        "prompt_tokens": g.prompt_tokens,
        "prompt_truncated_tokens": g.prompt_truncated_tokens,
        "new_tokens": g.new_tokens,
        "token_ids": list(g.token_ids),
        "finish_reason": g.finish_reason,
        "seconds": g.seconds,
        "batch_seconds": g.batch_seconds,
        "backend": g.backend,
        "backend_version": g.backend_version,
        "variant": g.variant,
        "model": description,
        "worker": worker,
        "generated_at": timezone.now().isoformat(),
    }
