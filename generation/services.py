"""Writes of the generation app: registering systems, and generation jobs (create, dispatch,
resume, cancel, wait), and `ensure_candidates`, the one entry point a study calls to have the
candidates of its generated systems (see JOBS.md). Importing datasets is datasets.py.

Reads (progress, chunks) are in selectors.py, the chunk's body in worker.py.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .backends import DecodingParameters, InvalidParameters
from .models import Candidate, Context, Dataset, GenerationJob, System
from .progress import publish_progress
from .selectors import (
    TERMINAL,
    JobError,
    JobProgress,
    Status,
    job_progress,
    job_status,
    matching_job,
    missing_chunks,
)
from .status import mark_cancelled, mark_completed_if_done, mark_running
from .tasks import generate_chunk
from .validation import (
    BACKEND_KINDS,
    NAME_RE,
    ConfigProblem,
    JobOptions,
    SystemConfigError,
    backend_spec,
    load_options,
    normalize_config,
    split_config,
)
from .worker import render_turns

log = logging.getLogger(__name__)


def register_system(
    name: str,
    kind: str,
    config: Mapping[str, Any] | None = None,
    *,
    base_dir: str | Path | None = None,
    replace: bool = False,
    dataset: str | None = None,
) -> System:
    """Validate, then create (or, with `replace`, update) the System; creates nothing on error.

    Replacing is refused once the system has candidates: they were made with the old config.
    `dataset` (a dataset name): its contexts (up to `SAMPLE_CONTEXTS`) are rendered with the
    system's prompt style too, so a chat template that refuses one of them is reported now.
    """
    problems = []
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 120:
        problems.append(
            ConfigProblem("name", f"must be a slug (letters, digits, '-', '_'), not {name!r}")
        )
    existing = System.objects.filter(name=name).first() if not problems else None
    if existing is not None and not replace:
        problems.append(
            ConfigProblem(
                "name",
                f"a system named {name!r} is already registered (kind {existing.kind}); "
                "choose another name or pass --replace",
            )
        )
    if existing is not None and replace and existing.candidates.exists():
        problems.append(
            ConfigProblem(
                "name",
                f"{name!r} already has candidates made with its current config; register the new "
                "config under another name",
            )
        )
    samples = _sample_contexts(dataset, problems)
    if problems:
        raise SystemConfigError(problems)
    normalized = normalize_config(kind, config, base_dir=base_dir, sample_contexts=samples)
    with transaction.atomic():
        if existing is not None:
            existing.kind = kind
            existing.config = normalized
            existing.save(update_fields=["kind", "config"])
            return existing
        return System.objects.create(name=name, kind=kind, config=normalized)


#: How many of a dataset's contexts `register_system` renders (rendering needs no model).
SAMPLE_CONTEXTS = 2000


def _sample_contexts(
    dataset: str | None, problems: list[ConfigProblem]
) -> list[tuple[str, list[tuple[str, str]]]]:
    if dataset is None:
        return []
    if not Dataset.objects.filter(name=dataset).exists():
        problems.append(ConfigProblem("dataset", f"no dataset named {dataset!r}"))
        return []
    rows = Context.objects.filter(dataset__name=dataset).order_by("pk")[:SAMPLE_CONTEXTS]
    return [(repr(c.external_id), render_turns(c)) for c in rows]


# ---------------------------------------------------------------------------------------------
# jobs


class JobTimeout(JobError):
    pass


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
        found_system = System.objects.filter(name=name).first()
        if found_system is None:
            raise JobError(f"no system named {name!r}")
        system = found_system
    if system.kind not in BACKEND_KINDS:
        raise JobError(f"system {system.name!r} is of kind {system.kind}, which is not generated")
    config = system.config or {}
    ids = sorted({c.pk if isinstance(c, Context) else int(c) for c in contexts})
    dataset_id = _one_dataset(ids)
    options = _job_options(
        config,
        samples_per_context=samples_per_context,
        chunk_size=chunk_size,
        batch_size=batch_size,
    )
    merged = {**(config.get("decoding") or {}), **(decoding or {})}
    merged.pop("num_return_sequences", None)
    try:
        params = DecodingParameters.from_dict(
            {**merged, "num_return_sequences": options.samples_per_context}
        )
    except InvalidParameters as exc:
        raise JobError(str(exc)) from None
    stored_decoding = params.as_dict()
    stored_decoding.pop("num_return_sequences")
    with transaction.atomic():
        job = GenerationJob.objects.create(
            system=system,
            dataset_id=dataset_id,
            backend_spec=backend_spec(system.kind, config),
            decoding=stored_decoding,
            samples_per_context=options.samples_per_context,
            chunk_size=options.chunk_size,
            batch_size=options.batch_size,
        )
        through = GenerationJob.contexts.through
        through.objects.bulk_create(
            [through(generationjob_id=job.pk, context_id=i) for i in ids], batch_size=2000
        )
    return job


def _one_dataset(context_ids: list[int]) -> int:
    """The dataset of the contexts, which must exist and be of one dataset."""
    if not context_ids:
        raise JobError("a generation job needs at least one context")
    datasets = set(Context.objects.filter(pk__in=context_ids).values_list("dataset_id", flat=True))
    found = Context.objects.filter(pk__in=context_ids).count()
    if found != len(context_ids):
        raise JobError(f"{len(context_ids) - found} of the contexts do not exist")
    if len(datasets) != 1:
        raise JobError("the contexts of a job must come from one dataset")
    return datasets.pop()


def _job_options(config: Mapping[str, Any], **given: int | None) -> JobOptions:
    """The job options asked for, else the system config's, else the defaults."""
    options = {
        name: config[name]
        for name in ("samples_per_context", "chunk_size", "batch_size")
        if name in config
    }
    options.update({name: value for name, value in given.items() if value is not None})
    try:
        return JobOptions.checked(options)
    except SystemConfigError as error:
        first = error.problems[0]
        raise JobError(f"{first.field} {first.reason}") from None


def is_eager() -> bool:
    """No broker: tasks run in this process, now.

    Read from the settings the project's Celery app is configured from, not from Celery's
    "current app", which any `Celery(...)` made later in the process (a client) replaces."""
    return bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False))


def dispatch_job(job: GenerationJob) -> list[str]:
    """Send a task per chunk that still has missing keys; returns the task ids.

    Eager (no broker): the chunks run here, now, and a chunk's exception propagates. With a
    broker: the tasks go to the `gpu` queue once the current transaction commits (a worker
    must see the job); follow with `wait_for_job` or `job_progress`.
    Only a pending job is dispatched; a started one is resumed (`resume_job`).
    """
    job.refresh_from_db()
    if job.status != Status.PENDING:
        raise JobError(
            f"job {job.pk} is {job.status}; use resume to re-dispatch its missing chunks"
        )
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
    chunks = missing_chunks(job)
    mark_running(job.pk, started_at=job.started_at or timezone.now())
    if not chunks:
        mark_completed_if_done(job.pk)
        job.refresh_from_db()
        return []
    task_ids = [f"genjob-{job.pk}-{uuid.uuid4().hex[:12]}" for _ in chunks]
    # Recorded before sending, so that a cancel arriving mid-dispatch can revoke them all.
    job.celery_task_ids = list(job.celery_task_ids or []) + task_ids
    GenerationJob.objects.filter(pk=job.pk).update(celery_task_ids=job.celery_task_ids)
    if is_eager():
        # In this process and transaction: nothing to wait for, and a chunk's error propagates.
        for task_id, chunk in zip(task_ids, chunks, strict=True):
            if job_status(job.pk) == Status.CANCELLED:
                break
            generate_chunk.apply(args=(job.pk, chunk, str(job.token)), task_id=task_id, throw=True)
    else:
        messages = [
            ((job.pk, chunk, str(job.token)), task_id)
            for task_id, chunk in zip(task_ids, chunks, strict=True)
        ]
        transaction.on_commit(lambda: _enqueue(messages))
    job.refresh_from_db()
    return task_ids


def _enqueue(messages: list[tuple[tuple[int, list[int], str], str]]) -> None:
    for args, task_id in messages:
        generate_chunk.apply_async(args=args, task_id=task_id)  # queue: settings.CELERY_TASK_ROUTES


def cancel_job(job: GenerationJob) -> GenerationJob:
    """Mark the job cancelled: its chunks check this before and between sub-batches and stop;
    queued tasks are also revoked (best effort). Stored candidates are kept."""
    mark_cancelled(job.pk)
    job.refresh_from_db()
    if job.celery_task_ids and not is_eager():
        try:
            generate_chunk.app.control.revoke(list(job.celery_task_ids))
        except Exception:  # pragma: no cover - needs a broker that is down
            log.warning("could not revoke the tasks of job %s", job.pk, exc_info=True)
    publish_progress(job_progress(job))
    return job


def wait_for_job(
    job: GenerationJob,
    *,
    timeout: float | None = None,
    poll: float = 0.5,
    on_progress: Callable[[JobProgress], None] | None = None,
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
        if progress.status in TERMINAL:
            return progress
        if deadline is not None and time.monotonic() >= deadline:
            raise JobTimeout(
                f"job {job.pk} is still {progress.status} after {timeout:g} s "
                f"({progress.done}/{progress.total} candidates)"
            )
        time.sleep(poll)


# ---------------------------------------------------------------------------------------------
# a study's generated systems


@dataclass(frozen=True)
class SystemRequest:
    """A generated system a study names: its position in the study's list, name, kind, config."""

    index: int
    name: str
    kind: str
    config: Mapping[str, Any]


class CandidatesUnavailable(Exception):
    """The candidates of a study's generated systems cannot be had. Each problem's field is
    relative to the study's list of systems: "[1].config.top_p", "[0]", or "" (the list)."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def prefixed(self, prefix: str) -> str:
        """The problems with their fields under `prefix`, e.g. 'systems'."""
        return "\n".join(f"{prefix}{p.field}: {p.reason}" for p in self.problems)


def _unavailable(field: str, reason: str) -> CandidatesUnavailable:
    return CandidatesUnavailable([ConfigProblem(field, reason)])


@dataclass(frozen=True)
class _Prepared:
    """A requested system, its validated config and its row if it is registered."""

    index: int
    name: str
    kind: str
    config: dict[str, Any]
    existing: System | None


def ensure_candidates(
    systems: Sequence[SystemRequest],
    contexts: Callable[[], Mapping[str, Context]],
    *,
    base_dir: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> dict[str, dict[str, Candidate]]:
    """Make sure every system of `systems` has a candidate for each context, generating what is
    missing; returns {system name: {context external id: the candidate of sample `sample_index`}}.

    Every config is validated first; `contexts()` (which stores the study's contexts) is
    called only when all are valid, so an invalid config writes nothing. Runs outside any
    transaction, before the study is created. A job of the same system, decoding parameters,
    samples and contexts is reused (completed) or resumed (missing chunks only), so re-running
    a failed build does not generate twice. Eager (no broker): the chunks run here. With a
    broker: dispatched to the `gpu` queue and waited for, up to `timeout` seconds (default:
    EVALSITE_GENERATION_TIMEOUT, else 6 hours), with progress lines (default: on stderr).
    Raises `CandidatesUnavailable`.
    """
    prepared = [_prepare(request, base_dir) for request in systems]
    context_rows = contexts()
    say = progress or _say
    if timeout is None:
        timeout = float(os.environ.get("EVALSITE_GENERATION_TIMEOUT", 6 * 3600))
    context_ids = sorted(c.pk for c in context_rows.values())
    by_pk = {c.pk: cid for cid, c in context_rows.items()}
    out: dict[str, dict[str, Candidate]] = {}
    for p in prepared:
        job = _job_for(p, context_ids)
        _run_job(job, p, say, timeout)
        chosen = Candidate.objects.filter(generation_job=job, sample_index=p.config["sample_index"])
        out[p.name] = {by_pk[c.context_id]: c for c in chosen if c.context_id in by_pk}
    return out


def _prepare(request: SystemRequest, base_dir: str | Path | None) -> _Prepared:
    """Validate a requested system's config (no writes).

    A system already registered (register_system, or an earlier study) keeps its model
    options; the request may override its decoding parameters and job options
    (samples_per_context, sample_index, batch_size, chunk_size). A request that names other
    model options for a registered name is refused.
    """
    name, kind, raw = request.name, request.kind, dict(request.config or {})
    where = f"[{request.index}].config"
    existing = System.objects.filter(name=name).first()
    if existing is not None and existing.kind != kind:
        raise _unavailable(
            "",
            f"{name!r} is already registered as kind {existing.kind!r}, not {kind!r}; use another name",
        )
    try:
        if existing is None:
            config = normalize_config(kind, raw, base_dir=base_dir)
        else:
            config = _override_registered(existing, raw, base_dir, where)
    except SystemConfigError as error:
        raise CandidatesUnavailable(
            [ConfigProblem(f"{where}.{p.field}", p.reason) for p in error.problems]
        ) from None
    return _Prepared(request.index, name, kind, config, existing)


def _override_registered(
    existing: System, raw: dict[str, Any], base_dir: str | Path | None, where: str
) -> dict[str, Any]:
    kind = existing.kind
    load, decoding, job_options, problems = split_config(kind, raw)
    if problems:
        raise SystemConfigError(problems)
    if load:
        config = normalize_config(kind, raw, base_dir=base_dir)
        if load_options(kind, config) != load_options(kind, existing.config):
            raise _unavailable(
                where,
                f"{existing.name!r} is already registered with other model options "
                f"({load_options(kind, existing.config)}); leave them out of the spec to use "
                "the registered ones, or use another system name",
            )
        return config
    registered = {k: v for k, v in existing.config.items() if k != "checkpoint"}
    merged = {
        **registered,
        **job_options,
        "decoding": {**(registered.get("decoding") or {}), **decoding},
    }
    config = normalize_config(kind, merged, check_files=False)
    if "checkpoint" in existing.config:
        config["checkpoint"] = existing.config["checkpoint"]
    return config


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _job_for(p: _Prepared, context_ids: list[int]) -> GenerationJob:
    """The matching job of the system (reused or resumed), else a new one."""
    system = p.existing
    if system is None:
        system, _ = System.objects.get_or_create(
            name=p.name, defaults={"kind": p.kind, "config": p.config}
        )
        if system.kind != p.kind:
            raise _unavailable("", f"{p.name!r} is already registered as kind {system.kind!r}")
    job = matching_job(system, p.config, context_ids)
    if job is not None:
        return job
    try:
        return create_job(
            system,
            context_ids,
            decoding=p.config["decoding"],
            samples_per_context=p.config["samples_per_context"],
            chunk_size=p.config["chunk_size"],
            batch_size=p.config["batch_size"],
        )
    except JobError as error:
        raise _unavailable(f"[{p.index}].config", str(error)) from None


def _run_job(job: GenerationJob, p: _Prepared, say: Callable[[str], None], timeout: float) -> None:
    job.refresh_from_db()
    first = job_progress(job)
    where = f"[{p.index}]"
    if first.status == Status.COMPLETED:
        say(f"{p.name}: reusing the {first.total} candidates of generation job {job.pk}")
        return
    eager = is_eager()
    say(
        f"{p.name}: generating {first.total - first.done} of {first.total} candidates "
        f"(job {job.pk}{', in this process' if eager else ', on the gpu queue'})"
    )
    try:
        if job.status == Status.PENDING:
            dispatch_job(job)
        elif not (job.status == Status.RUNNING and not eager):
            resume_job(job)  # failed / cancelled / an in-process run that died
    except Exception as error:  # eager: a chunk failed (the job is marked failed)
        now = job_progress(job)
        raise _unavailable(
            where,
            f"generating the candidates of {p.name!r} failed "
            f"(job {job.pk}, {now.done}/{now.total} stored): {now.error or error}",
        ) from None
    if not eager:
        _wait_with_lines(job, p, say, timeout)
    done = job_progress(job)
    if done.status != Status.COMPLETED:
        raise _unavailable(
            where,
            f"generation job {job.pk} for {p.name!r} is {done.status} "
            f"({done.done}/{done.total})" + (f": {done.error}" if done.error else ""),
        )
    say(f"{p.name}: {done.done} candidates generated (job {job.pk})")


def _wait_with_lines(
    job: GenerationJob, p: _Prepared, say: Callable[[str], None], timeout: float
) -> None:
    last = [0.0]

    def report(progress: JobProgress) -> None:
        now = time.monotonic()
        if progress.finished or now - last[0] >= 2.0:
            last[0] = now
            say(
                f"{p.name}: {progress.done}/{progress.total} candidates (job {job.pk}, {progress.status})"
            )

    try:
        wait_for_job(job, timeout=timeout, on_progress=report)
    except JobTimeout as error:
        raise _unavailable(
            f"[{p.index}]",
            f"{error}; the workers keep generating: run create_study "
            f"again when `python manage.py generate {job.pk}` shows it completed",
        ) from None
