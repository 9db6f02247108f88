"""Create a study in the database from a validated spec (the thin shell around design.py).

spec → contexts (sampled, stratified) → candidates per system → designed batches →
Items, Batches, BatchEntries, BatchSlots, all in one transaction: an error leaves nothing.

Systems of a generated kind (hf_causal, hf_seq2seq, dexperts) get their candidates from a
generation job first (`generate_missing_candidates`), BEFORE the study's transaction: the
contexts are stored, the job runs (in-process without a broker; on the Celery workers with
one, waited for with a timeout) and its candidates are then used like any other. An error
after that step leaves the contexts and the generated candidates (a re-run reuses them)
but no study.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction

from generation.models import Candidate, Context, Dataset, System

from . import design as design_module
from . import spec as spec_module
from .answers import swap_sides
from .models import Batch, BatchEntry, BatchSlot, Item, Study


class StudyBuildError(Exception):
    """The spec is valid but the study cannot be created (name taken, candidates missing)."""


@dataclass(frozen=True)
class BuiltStudy:
    study: Study
    report_text: str


def build_study(spec_path: str | Path) -> BuiltStudy:
    """Validate the spec file and create its study; raises SpecError or StudyBuildError."""
    path = Path(spec_path)
    spec = spec_module.load_spec(path)
    source = path.read_text(encoding="utf-8")
    return build_study_from_spec(spec, source)


def build_study_from_spec(
    spec, source: str = "", *, progress: Callable[[str], None] | None = None,
    generation_timeout: float | None = None,
) -> BuiltStudy:
    data = spec.to_dict()
    name = data["name"]
    if Study.objects.filter(name=name).exists():
        raise StudyBuildError(f"name: a study named {name!r} already exists; choose another name")

    contexts_path = spec.contexts_path
    records = spec_module.load_contexts(contexts_path)
    by_id = {r.id: r for r in records}
    chosen_ids = spec.sample(records)
    design = spec.make_design(chosen_ids)
    design_spec = data["design"]

    generated = None
    if any(s.needs_generation for s in spec.systems):
        prepared = prepare_generated_systems(spec)  # validates every config; writes nothing
        dataset, _ = Dataset.objects.get_or_create(
            name=f"{name}-contexts", defaults={"format": "jsonl", "source_path": str(contexts_path)}
        )
        context_rows = _store_contexts(dataset, [by_id[c] for c in chosen_ids])
        generated = generate_missing_candidates(
            spec, context_rows, prepared=prepared, progress=progress, timeout=generation_timeout
        )

    with transaction.atomic():
        dataset, _ = Dataset.objects.get_or_create(
            name=f"{name}-contexts", defaults={"format": "jsonl", "source_path": str(contexts_path)}
        )
        context_rows = _store_contexts(dataset, [by_id[c] for c in chosen_ids])
        candidates = _store_candidates(spec, context_rows, by_id, generated)
        attention = _store_attention_checks(spec)
        study = Study.objects.create(
            name=name,
            title=data.get("title") or name,
            protocol=data["protocol"],
            spec=data,
            spec_hash=spec.spec_hash(),
            spec_source=source,
            lease_minutes=data.get("lease_minutes", 60),
            overlap=design_spec["overlap"],
            design_report={
                "report": design.report,
                "text": design_module.design_report_text(design.report),
                "data_digests": spec.data_digests(),
            },
        )
        _store_batches(study, design, context_rows, candidates, attention)
    return BuiltStudy(study, study.design_report["text"])


def _store_contexts(dataset: Dataset, records) -> dict[str, Context]:
    existing = {c.external_id: c for c in Context.objects.filter(dataset=dataset)}
    new = [
        Context(
            dataset=dataset,
            external_id=r.id,
            turns=[{"speaker": t["speaker"], "text": t["text"]} for t in _turn_dicts(r.turns)],
            reference_response=r.reference,
            metadata=dict(r.metadata or {}),
        )
        for r in records
        if r.id not in existing
    ]
    Context.objects.bulk_create(new)
    rows = {c.external_id: c for c in Context.objects.filter(dataset=dataset)}
    return {r.id: rows[r.id] for r in records}


def _turn_dicts(turns) -> list[dict]:
    out = []
    for t in turns:
        if isinstance(t, dict):
            out.append(t)
        else:
            out.append({"speaker": t.speaker, "text": t.text})
    return out


def _store_candidates(spec, context_rows, records, generated=None) -> dict[tuple[str, str], Candidate]:
    """One candidate per (system, sampled context), keyed for the designer's ids.

    `generated`: {system name: {context id: Candidate}} from `generate_missing_candidates`.
    """
    study_name = spec.name
    result: dict[tuple[str, str], Candidate] = {}
    for system_spec in spec.to_dict()["systems"]:
        kind = system_spec["kind"]
        system, created = System.objects.get_or_create(
            name=system_spec["name"], defaults={"kind": kind, "config": _system_config(system_spec)}
        )
        if not created and system.kind != kind:
            raise StudyBuildError(
                f"systems: {system.name!r} is already registered as kind {system.kind!r}, "
                f"not {kind!r}; use another name"
            )
        if kind == "imported":
            path = spec.responses_path(system_spec["name"])
            responses = spec_module.load_responses(path, known_ids=set(records))
            texts = {cid: responses.get(cid) for cid in context_rows}
            provenance = {"source": "file", "path": str(path)}
            key_prefix = f"file:{study_name}:{system.name}"
        elif kind == "reference":
            texts = {cid: records[cid].reference for cid in context_rows}
            provenance = {"source": "reference"}
            key_prefix = f"reference:{study_name}"
        elif generated is not None and system.name in generated:
            got = generated[system.name]
            missing = [cid for cid in context_rows if cid not in got]
            if missing:
                raise StudyBuildError(
                    f"systems: {system.name!r} has no generated response for context(s) "
                    f"{', '.join(missing[:5])}" + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                )
            for cid in context_rows:
                result[(system.name, cid)] = got[cid]
            continue
        else:
            raise StudyBuildError(
                f"systems: {system.name!r} (kind {kind}) has no candidates yet; "
                "generate them first (python manage.py generate) or import them as kind 'imported'"
            )
        missing = [cid for cid, text in texts.items() if not text]
        if missing:
            raise StudyBuildError(
                f"systems: {system.name!r} has no response for context(s) {', '.join(missing[:5])}"
                + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            )
        for cid, text in texts.items():
            candidate, _ = Candidate.objects.get_or_create(
                source_key=f"{key_prefix}:{cid}",
                defaults={"system": system, "context": context_rows[cid], "text": text,
                          "provenance": provenance},
            )
            result[(system.name, cid)] = candidate
    return result


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class PreparedSystem:
    """A generated system of the spec, its validated config and its row if registered."""

    index: int
    name: str
    kind: str
    config: dict[str, Any]
    existing: System | None


def prepare_generated_systems(spec) -> list[PreparedSystem]:
    """Validate the config of every generated system of the spec (no writes).

    A system already registered (register_system, or an earlier study) keeps its model
    options; the spec may override its decoding parameters and job options
    (samples_per_context, sample_index, batch_size, chunk_size). A spec that names other model
    options for a registered name is refused.
    """
    from generation.validation import (
        SystemConfigError,
        load_options,
        normalize_config,
        split_config,
    )

    out = []
    for index, system_spec in enumerate(spec.to_dict()["systems"]):
        if not system_spec.get("needs_generation"):
            continue
        name, kind = system_spec["name"], system_spec["kind"]
        raw = dict(system_spec.get("config") or {})
        where = f"systems[{index}].config."
        existing = System.objects.filter(name=name).first()
        if existing is not None and existing.kind != kind:
            raise StudyBuildError(
                f"systems: {name!r} is already registered as kind {existing.kind!r}, not {kind!r}; use another name"
            )
        try:
            if existing is None:
                config = normalize_config(kind, raw, base_dir=spec.base_dir)
            else:
                load, decoding, job_options, problems = split_config(kind, raw)
                if problems:
                    raise SystemConfigError(problems)
                if load:
                    config = normalize_config(kind, raw, base_dir=spec.base_dir)
                    if load_options(kind, config) != load_options(kind, existing.config):
                        raise StudyBuildError(
                            f"{where[:-1]}: {name!r} is already registered with other model options "
                            f"({load_options(kind, existing.config)}); leave them out of the spec to use "
                            "the registered ones, or use another system name"
                        )
                else:
                    registered = {k: v for k, v in existing.config.items() if k != "checkpoint"}
                    merged = {**registered, **job_options,
                              "decoding": {**(registered.get("decoding") or {}), **decoding}}
                    config = normalize_config(kind, merged, check_files=False)
                    if "checkpoint" in existing.config:
                        config["checkpoint"] = existing.config["checkpoint"]
        except SystemConfigError as error:
            raise StudyBuildError(error.prefixed(where)) from None
        out.append(PreparedSystem(index, name, kind, config, existing))
    return out


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def generate_missing_candidates(
    spec,
    context_rows: dict[str, Context],
    *,
    prepared: list[PreparedSystem] | None = None,
    progress: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> dict[str, dict[str, Candidate]]:
    """Run (or reuse) a generation job per generated system over the sampled contexts and
    return {system name: {context id: the candidate of sample `sample_index`}}.

    Runs outside any transaction, before the study is created. A job of the same system,
    decoding parameters, samples and contexts is reused (completed) or resumed (missing
    chunks only), so re-running a failed build does not generate twice. Eager (no broker):
    the chunks run here. With a broker: dispatched to the `gpu` queue and waited for, up to
    `timeout` seconds (default: EVALSITE_GENERATION_TIMEOUT, else 6 hours), with progress lines.
    """
    from generation import jobs

    say = progress or _say
    if prepared is None:
        prepared = prepare_generated_systems(spec)
    if timeout is None:
        timeout = float(os.environ.get("EVALSITE_GENERATION_TIMEOUT", 6 * 3600))
    context_ids = sorted(c.pk for c in context_rows.values())
    by_pk = {c.pk: cid for cid, c in context_rows.items()}
    out: dict[str, dict[str, Candidate]] = {}
    for p in prepared:
        system = p.existing
        if system is None:
            system, _ = System.objects.get_or_create(name=p.name, defaults={"kind": p.kind, "config": p.config})
            if system.kind != p.kind:
                raise StudyBuildError(f"systems: {p.name!r} is already registered as kind {system.kind!r}")
        job = _matching_job(system, p.config, context_ids)
        if job is None:
            try:
                job = jobs.create_job(
                    system, context_ids, decoding=p.config["decoding"],
                    samples_per_context=p.config["samples_per_context"],
                    chunk_size=p.config["chunk_size"], batch_size=p.config["batch_size"],
                )
            except jobs.JobError as error:
                raise StudyBuildError(f"systems[{p.index}].config: {error}") from None
        _run_job(job, p, say, timeout)
        chosen = Candidate.objects.filter(generation_job=job, sample_index=p.config["sample_index"])
        out[p.name] = {by_pk[c.context_id]: c for c in chosen if c.context_id in by_pk}
    return out


def _matching_job(system: System, config: dict, context_ids: list[int]):
    from generation.jobs import job_context_ids
    from generation.models import GenerationJob
    from generation.validation import backend_spec

    spec = backend_spec(system.kind, system.config)
    candidates = GenerationJob.objects.filter(
        system=system, samples_per_context=config["samples_per_context"]
    ).order_by("-id")[:50]
    for job in candidates:
        if job.decoding == config["decoding"] and job.backend_spec == spec and job_context_ids(job) == context_ids:
            return job
    return None


def _run_job(job, prepared: PreparedSystem, say: Callable[[str], None], timeout: float) -> None:
    from generation import jobs
    from generation.models import GenerationJob

    status = GenerationJob.Status
    job.refresh_from_db()
    first = jobs.job_progress(job)
    if first.status == status.COMPLETED:
        say(f"{prepared.name}: reusing the {first.total} candidates of generation job {job.pk}")
        return
    eager = jobs.is_eager()
    say(f"{prepared.name}: generating {first.total - first.done} of {first.total} candidates "
        f"(job {job.pk}{', in this process' if eager else ', on the gpu queue'})")
    try:
        if job.status == status.PENDING:
            jobs.dispatch_job(job)
        elif not (job.status == status.RUNNING and not eager):
            jobs.resume_job(job)  # failed / cancelled / an in-process run that died
    except Exception as error:  # eager: a chunk failed (the job is marked failed)
        p = jobs.job_progress(job)
        raise StudyBuildError(
            f"systems[{prepared.index}]: generating the candidates of {prepared.name!r} failed "
            f"(job {job.pk}, {p.done}/{p.total} stored): {p.error or error}"
        ) from None
    if not eager:
        last = [0.0]

        def report(p) -> None:
            now = time.monotonic()
            if p.finished or now - last[0] >= 2.0:
                last[0] = now
                say(f"{prepared.name}: {p.done}/{p.total} candidates (job {job.pk}, {p.status})")

        try:
            jobs.wait_for_job(job, timeout=timeout, on_progress=report)
        except jobs.JobTimeout as error:
            raise StudyBuildError(
                f"systems[{prepared.index}]: {error}; the workers keep generating: run create_study "
                f"again when `python manage.py generate {job.pk}` shows it completed"
            ) from None
    p = jobs.job_progress(job)
    if p.status != status.COMPLETED:
        raise StudyBuildError(
            f"systems[{prepared.index}]: generation job {job.pk} for {prepared.name!r} is {p.status} "
            f"({p.done}/{p.total})" + (f": {p.error}" if p.error else "")
        )
    say(f"{prepared.name}: {p.done} candidates generated (job {job.pk})")


def _store_attention_checks(spec) -> dict[str, dict[str, Any]]:
    """Store the spec's attention checks; returns {check id: {"context", responses...}}.

    Contexts go to the dataset `<study>-attention` (external id = check id), responses to
    candidates of the reserved system `attention-check` (kind imported, provenance
    {"source": "attention_check"}). Rows left by an earlier study of the same name are
    brought up to date, so the texts always match this spec.
    """
    if not spec.attention_checks:
        return {}
    system, created = System.objects.get_or_create(
        name=spec_module.ATTENTION_SYSTEM,
        defaults={"kind": System.Kind.IMPORTED, "config": {"source": "attention_check"}},
    )
    if not created and system.kind != System.Kind.IMPORTED:
        raise StudyBuildError(
            f"systems: the name {system.name!r} is reserved for attention checks, but a system "
            f"of kind {system.kind!r} is registered under it; rename that system"
        )
    dataset, _ = Dataset.objects.get_or_create(
        name=f"{spec.name}-attention", defaults={"format": "attention_checks", "source_path": ""}
    )
    fields = ("response_a", "response_b") if spec.protocol == "pairwise" else ("response",)
    out: dict[str, dict[str, Any]] = {}
    for check in spec.attention_checks:
        turns = [t.to_dict() for t in check.turns]
        context, _ = Context.objects.update_or_create(
            dataset=dataset, external_id=check.id,
            defaults={"turns": turns, "reference_response": None,
                      "metadata": {"attention_check": check.id}},
        )
        row: dict[str, Any] = {"context": context, "expect": check.to_dict(spec.protocol)["expect"]}
        for field in fields:
            row[field], _ = Candidate.objects.update_or_create(
                source_key=f"attention:{spec.name}:{check.id}:{field}",
                defaults={"system": system, "context": context, "text": getattr(check, field),
                          "provenance": {"source": "attention_check", "check": check.id,
                                         "response": field}},
            )
        out[check.id] = row
    return out


def _attention_item(study: Study, designed, attention: dict[str, dict[str, Any]]) -> Item:
    check = attention[designed.attention_check]
    sides = tuple(designed.systems)
    expect = check["expect"]
    if len(sides) == 2 and sides[0] == "response_b":
        expect = swap_sides(expect)  # judgments say "a" for the left response
    return Item(
        study=study, context=check["context"], candidate=check[sides[0]],
        candidate_right=check[sides[1]] if len(sides) == 2 else None,
        output_key=f"attention:{designed.attention_check}",
        attention_check_id=designed.attention_check, attention_expect=expect,
    )


def _item_key(designed) -> tuple:
    if designed.attention_check is not None:
        return ("attention", designed.attention_check, tuple(designed.systems))
    return (designed.context_id, tuple(designed.systems))


def _system_config(system_spec: dict) -> dict:
    return {k: v for k, v in system_spec.items() if k not in ("name", "kind")}


def _store_batches(study: Study, design, context_rows, candidates, attention=None) -> None:
    items: dict[tuple, Item] = {}
    for batch in design.batches:
        for designed in batch.items:
            key = _item_key(designed)
            if key in items:
                continue
            if designed.attention_check is not None:
                items[key] = _attention_item(study, designed, attention or {})
                continue
            cid, systems = designed.context_id, tuple(designed.systems)
            if len(systems) == 1:
                output_key = f"{cid}|{systems[0]}"
                right = None
            else:
                output_key = f"{cid}|{'~'.join(sorted(systems))}"
                right = candidates[(systems[1], cid)]
            items[key] = Item(
                study=study, context=context_rows[cid], candidate=candidates[(systems[0], cid)],
                candidate_right=right, output_key=output_key,
            )
    Item.objects.bulk_create(list(items.values()))
    batch_rows = Batch.objects.bulk_create([
        Batch(study=study, index=b.index, kind=b.kind, ordering=list(b.ordering or []), slots=b.slots)
        for b in design.batches
    ])
    entries, slots = [], []
    for batch_row, batch in zip(batch_rows, design.batches, strict=True):
        for position, designed in enumerate(batch.items):
            entries.append(BatchEntry(
                batch=batch_row, position=position, block_index=designed.block_index,
                item=items[_item_key(designed)],
            ))
        slots.extend(BatchSlot(batch=batch_row, slot_index=i) for i in range(batch.slots))
    BatchEntry.objects.bulk_create(entries, batch_size=2000)
    BatchSlot.objects.bulk_create(slots, batch_size=2000)
