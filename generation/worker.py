"""The worker side of a generation job: running one chunk on this process's warm systems.

A chunk loads its system through `SYSTEM_CACHE` (kept warm across the tasks a worker process
runs), generates sub-batch by sub-batch and stores each sub-batch with conflict-ignoring
inserts keyed ``job:{job}:{context}:{sample}``, so a chunk that runs twice, or a resume after
a crash, leaves one candidate per key (see JOBS.md).

torch and transformers are imported only when `SYSTEM_CACHE` first loads a system, so the
web process can import the task (to send it) without them.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from .backends import DecodingParameters, GeneratedText, OutOfMemory, derive_seed
from .models import Candidate, Context, GenerationJob
from .progress import publish_progress
from .selectors import Status, job_progress, job_status, stored_counts
from .status import mark_completed_if_done, mark_failed, mark_running

if TYPE_CHECKING:
    from .backends import SystemCache

log = logging.getLogger(__name__)

Report = Callable[[int, int], None]


class _LazyCache:
    """`generation.backends.SystemCache`, created on first use (importing torch only then)."""

    def __init__(self) -> None:
        self._cache: SystemCache | None = None
        self._lock = threading.Lock()

    @property
    def cache(self) -> SystemCache:
        if self._cache is None:
            with self._lock:
                if self._cache is None:
                    from .backends import SystemCache  # imports torch

                    self._cache = SystemCache(
                        max_systems=int(os.environ.get("EVALSITE_WARM_SYSTEMS", "2"))
                    )
        return self._cache

    def get(self, spec: dict[str, Any]) -> Any:
        return self.cache.get(spec)

    @property
    def loads(self) -> int:
        return self._cache.loads if self._cache is not None else 0

    def clear(self) -> None:
        if self._cache is not None:
            self._cache.clear()


#: Loaded systems kept warm across the tasks a worker process runs (an LRU, see backends/cache.py).
SYSTEM_CACHE = _LazyCache()


def context_seed(base_seed: int, context: Context, system: str | None) -> int:
    """Per-context seed: stable across chunkings, workers and databases (the dataset's external
    id, the system's name). `system` None: the same for every system (common random numbers);
    otherwise each system has its own stream, so that a base model and a lightly adapted copy
    sampled with one seed do not share random numbers (their samples would look alike)."""
    if system is None:
        return derive_seed(base_seed, "context", context.external_id)
    return derive_seed(base_seed, "system", system, "context", context.external_id)


def random_streams(params: DecodingParameters) -> str:
    """The label of the seed scheme, recorded with every candidate."""
    return "common" if params.common_random_numbers else "per_system"


def render_turns(context: Context) -> list[tuple[str, str]]:
    return [(str(t.get("speaker", "")), str(t.get("text", ""))) for t in context.turns]


def run_chunk(
    job_id: int,
    context_ids: list[int],
    token: str | None = None,
    *,
    task_id: str | None = None,
    report: Report | None = None,
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
    mark_running(job_id)
    in_job, todo = _contexts_to_generate(job, context_ids)
    result: dict[str, Any] = {
        "job": job_id,
        "contexts": len(in_job),
        "generated_contexts": 0,
        "cancelled": False,
        "loaded_system": False,
    }
    try:
        if todo:
            _generate(job, todo, task_id, report, result)
    except Exception as exc:
        if isinstance(exc, OutOfMemory):
            message = f"out of memory even with one sequence per batch: {exc}"
        else:
            message = f"{type(exc).__name__}: {exc}"
        log.exception("generation job %s failed", job_id)
        mark_failed(job_id, message)
        publish_progress(job_progress(job_id), report)
        raise
    mark_completed_if_done(job_id)
    publish_progress(job_progress(job_id), report)
    result["cache_loads"] = SYSTEM_CACHE.loads
    return result


def _contexts_to_generate(
    job: GenerationJob, context_ids: list[int]
) -> tuple[set[int], list[Context]]:
    """(the chunk's context ids that are the job's, those of them missing a sample)."""
    in_job = set(job.contexts.filter(pk__in=list(context_ids)).values_list("pk", flat=True))
    counts = stored_counts(job.pk, in_job)
    contexts = [
        c
        for c in Context.objects.filter(pk__in=in_job).order_by("pk")
        if counts.get(c.pk, 0) < job.samples_per_context
    ]
    return in_job, contexts


def _generate(
    job: GenerationJob,
    todo: list[Context],
    task_id: str | None,
    report: Report | None,
    result: dict,
) -> None:
    params = DecodingParameters.from_dict(
        {
            # a job created before per-system streams had common ones: a resume keeps them
            "common_random_numbers": True,
            **job.decoding,
            "num_return_sequences": job.samples_per_context,
        }
    )
    loads_before = SYSTEM_CACHE.loads
    system = SYSTEM_CACHE.get(job.backend_spec)
    result["loaded_system"] = SYSTEM_CACHE.loads > loads_before
    per_batch = max(1, job.batch_size // job.samples_per_context)
    worker = {"host": socket.gethostname(), "pid": os.getpid(), "task_id": task_id}
    for start in range(0, len(todo), per_batch):
        if job_status(job.pk) == Status.CANCELLED:
            result["cancelled"] = True
            return
        sub = todo[start : start + per_batch]
        prompts = []
        for context in sub:
            try:
                prompts.append(system.prepare_prompt(render_turns(context), params.max_new_tokens))
            except ValueError as exc:
                raise ValueError(
                    f"context {context.external_id!r} (id {context.pk}): {exc}"
                ) from exc
        stream = None if params.common_random_numbers else job.system.name
        seeds = [context_seed(params.seed, c, stream) for c in sub]
        outputs = system.generate(prompts, params, batch_size=job.batch_size, prompt_seeds=seeds)
        description = system.describe()  # after the batch: the modes it really used
        rows = []
        for context, prompt_seed, generated in zip(sub, seeds, outputs, strict=True):
            for g in generated:
                rows.append(
                    _candidate(
                        job,
                        context,
                        g,
                        _provenance(job, g, params, prompt_seed, description, worker),
                    )
                )
        with transaction.atomic():
            Candidate.objects.bulk_create(rows, ignore_conflicts=True)
        result["generated_contexts"] += len(sub)
        publish_progress(job_progress(job.pk), report)


def _candidate(
    job: GenerationJob, context: Context, g: GeneratedText, provenance: dict[str, Any]
) -> Candidate:
    text = g.text
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL; the exact output stays in token_ids.
        provenance["nul_characters_replaced"] = text.count("\x00")
        text = text.replace("\x00", "\ufffd")
    return Candidate(
        system_id=job.system_id,
        context=context,
        sample_index=g.sample_index,
        text=text,
        source_key=job.source_key(context.pk, g.sample_index),
        generation_job_id=job.pk,
        provenance=provenance,
    )


def _provenance(
    job: GenerationJob,
    g: GeneratedText,
    params: DecodingParameters,
    prompt_seed: int,
    description: dict[str, Any],
    worker: dict[str, Any],
) -> dict[str, Any]:
    return {
        "source": "generation",
        "job": job.pk,
        "system": job.system.name,
        "rendered_prompt": g.rendered_prompt,
        "decoding": params.as_dict(),
        "seed": g.seed,
        "prompt_seed": prompt_seed,
        "random_streams": random_streams(params),
        "sample_index": g.sample_index,
        "prompt_tokens": g.prompt_tokens,
        "prompt_truncated_tokens": g.prompt_truncated_tokens,
        "prompt_dropped_turns": g.prompt_dropped_turns,
        "prompt_form": g.prompt_form,
        "new_tokens": g.new_tokens,
        "token_ids": list(g.token_ids),
        "finish_reason": g.finish_reason,
        "seconds": g.seconds,
        "batch_seconds": g.batch_seconds,
        "backend": g.backend,
        "backend_version": g.backend_version,
        "variant": g.variant,
        "decode_mode": g.decode_mode,
        "graph_fallback": g.graph_fallback,
        "model": description,
        "worker": worker,
        "generated_at": timezone.now().isoformat(),
    }
