"""Create a study in the database from a validated spec (the thin shell around the designer, annotation/design/).

spec → contexts (sampled, stratified) → candidates per system → designed batches →
Items, Batches, BatchEntries, BatchSlots, all in one transaction: an error leaves nothing.

Systems of a generated kind (hf_causal, hf_seq2seq, dexperts) get their candidates from
`generation.services.ensure_candidates` first, BEFORE the study's transaction: the configs are
validated, the contexts stored, the jobs run (in-process without a broker; on the Celery
workers with one, waited for with a timeout) and their candidates are then used like any
other. An error after that step leaves the contexts and the generated candidates (a re-run
reuses them) but no study.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction

from core.limits import fit_key
from generation.models import Candidate, Context, Dataset, System
from generation.services import CandidatesUnavailable, SystemRequest, ensure_candidates

from . import design as design_module
from . import spec as spec_module
from .answers import swap_sides
from .controls import degraded_items, gold_items
from .models import Batch, BatchEntry, BatchSlot, Item, Study

# Keys joined from several names can outgrow their columns (each name fits its own):
# core.limits.fit_key shortens those with a hash, keeping them stable and distinct.
SOURCE_KEY_CHARS = Candidate._meta.get_field("source_key").max_length
OUTPUT_KEY_CHARS = Item._meta.get_field("output_key").max_length


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
    spec,
    source: str = "",
    *,
    progress: Callable[[str], None] | None = None,
    generation_timeout: float | None = None,
    status: str = Study.Status.OPEN,
) -> BuiltStudy:
    """Create the spec's study with its items, batches and slots (``status``: open, as
    ``create_study`` makes it, or draft, as the console's editor does)."""
    name = spec.name
    if Study.objects.filter(name=name).exists():
        raise StudyBuildError(f"name: a study named {name!r} already exists; choose another name")
    plan = _plan(spec, progress=progress, generation_timeout=generation_timeout)
    with transaction.atomic():
        context_rows, candidates, attention = _store_data(spec, plan, refresh=False)
        study = Study.objects.create(**_study_fields(spec, source, plan.design), status=status)
        _store_batches(study, plan.design, context_rows, candidates, attention)
    return BuiltStudy(study, study.design_report["text"])


def rebuild_draft(
    study: Study,
    spec,
    source: str = "",
    *,
    progress: Callable[[str], None] | None = None,
    generation_timeout: float | None = None,
) -> BuiltStudy:
    """Design a draft study again from its changed spec: its items, batches and slots are
    replaced, and the texts of its contexts and file/reference responses brought up to date
    with the data files. Only a draft (nobody has seen it) may change; its name stays."""
    if spec.name != study.name:
        raise StudyBuildError(
            f"name: a draft keeps its name ({study.name!r}); create a new study for {spec.name!r}"
        )
    plan = _plan(spec, progress=progress, generation_timeout=generation_timeout)
    with transaction.atomic():
        locked = Study.objects.select_for_update().get(pk=study.pk)
        if locked.status != Study.Status.DRAFT or locked.participants.exists():
            raise StudyBuildError(
                f"status: the study is {locked.status}, and its spec is frozen once it is opened"
            )
        context_rows, candidates, attention = _store_data(spec, plan, refresh=True)
        Batch.objects.filter(study=locked).delete()  # their entries and slots with them
        Item.objects.filter(study=locked).delete()
        for field, value in _study_fields(spec, source, plan.design).items():
            setattr(locked, field, value)
        locked.save()
        _store_batches(locked, plan.design, context_rows, candidates, attention)
    return BuiltStudy(locked, locked.design_report["text"])


@dataclass(frozen=True)
class _Plan:
    """What a study is built from, worked out before its transaction: the sampled
    contexts, the design, and the generated candidates (generation runs outside it)."""

    records: dict[str, Any]
    chosen_ids: list[str]
    design: Any
    generated: dict[str, dict[str, Candidate]] | None


def _plan(spec, *, progress, generation_timeout) -> _Plan:
    records = spec_module.load_contexts(spec.contexts_path)
    by_id = {r.id: r for r in records}
    chosen_ids = spec.sample(records)
    design = spec.make_design(chosen_ids)
    generated = None
    if any(s.needs_generation for s in spec.systems):
        # Configs are validated before the contexts are stored: an invalid one writes nothing.
        generated = _ensure_candidates(
            spec,
            lambda: _stored_contexts(spec, by_id, chosen_ids, refresh=False),
            progress=progress,
            timeout=generation_timeout,
        )
    return _Plan(by_id, chosen_ids, design, generated)


def _stored_contexts(spec, by_id, chosen_ids, *, refresh: bool) -> dict[str, Context]:
    dataset, _ = Dataset.objects.get_or_create(
        name=f"{spec.name}-contexts",
        defaults={"format": "jsonl", "source_path": str(spec.contexts_path)},
    )
    return _store_contexts(dataset, [by_id[c] for c in chosen_ids], refresh=refresh)


def _store_data(spec, plan: _Plan, *, refresh: bool):
    """(context rows, candidates, attention checks) of the study, stored."""
    context_rows = _stored_contexts(spec, plan.records, plan.chosen_ids, refresh=refresh)
    candidates = _store_candidates(spec, context_rows, plan.records, plan.generated, refresh)
    return context_rows, candidates, _store_attention_checks(spec)


def _study_fields(spec, source: str, design) -> dict[str, Any]:
    data = spec.to_dict()
    return {
        "name": data["name"],
        "title": data.get("title") or data["name"],
        "protocol": data["protocol"],
        "spec": data,
        "spec_hash": spec.spec_hash(),
        "spec_source": source,
        "lease_minutes": data.get("lease_minutes", 60),
        "overlap": data["design"]["overlap"],
        "design_report": {
            "report": design.report,
            "text": design_module.design_report_text(design.report),
            "data_digests": spec.data_digests(),
        },
    }


def _store_contexts(dataset: Dataset, records, refresh: bool = False) -> dict[str, Context]:
    """The records' contexts in ``dataset``: missing ones created; with ``refresh`` (a
    draft designed again) stored ones whose text changed in the file are updated."""
    existing = {c.external_id: c for c in Context.objects.filter(dataset=dataset)}
    if refresh:
        _refresh_contexts(existing, records)
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


def _refresh_contexts(existing: dict[str, Context], records) -> None:
    changed = []
    for r in records:
        row = existing.get(r.id)
        if row is None:
            continue
        turns = [{"speaker": t["speaker"], "text": t["text"]} for t in _turn_dicts(r.turns)]
        metadata = dict(r.metadata or {})
        if (row.turns, row.reference_response, row.metadata) != (turns, r.reference, metadata):
            row.turns, row.reference_response, row.metadata = turns, r.reference, metadata
            changed.append(row)
    Context.objects.bulk_update(changed, ["turns", "reference_response", "metadata"])


def _turn_dicts(turns) -> list[dict]:
    out = []
    for t in turns:
        if isinstance(t, dict):
            out.append(t)
        else:
            out.append({"speaker": t.speaker, "text": t.text})
    return out


def _store_candidates(
    spec, context_rows, records, generated=None, refresh: bool = False
) -> dict[tuple[str, str], Candidate]:
    """One candidate per (system, sampled context), keyed for the designer's ids.

    `generated`: {system name: {context id: Candidate}} from `generate_missing_candidates`.
    `refresh` (a draft designed again): file and reference texts are brought up to date.
    """
    store = Candidate.objects.update_or_create if refresh else Candidate.objects.get_or_create
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
                    f"{', '.join(missing[:5])}"
                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
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
            candidate, _ = store(
                source_key=fit_key(f"{key_prefix}:{cid}", SOURCE_KEY_CHARS),
                defaults={
                    "system": system,
                    "context": context_rows[cid],
                    "text": text,
                    "provenance": provenance,
                },
            )
            result[(system.name, cid)] = candidate
    return result


# --------------------------------------------------------------------------- generation


def _generated_systems(spec) -> list[SystemRequest]:
    return [
        SystemRequest(index, s["name"], s["kind"], s.get("config") or {})
        for index, s in enumerate(spec.to_dict()["systems"])
        if s.get("needs_generation")
    ]


def _ensure_candidates(
    spec,
    contexts: Callable[[], dict[str, Context]],
    *,
    progress: Callable[[str], None] | None,
    timeout: float | None,
) -> dict[str, dict[str, Candidate]]:
    """`generation.services.ensure_candidates` for the spec's generated systems; its problems
    named by the spec's fields (``systems[0].config.top_p: ...``)."""
    try:
        return ensure_candidates(
            _generated_systems(spec),
            contexts,
            base_dir=spec.base_dir,
            progress=progress,
            timeout=timeout,
        )
    except CandidatesUnavailable as error:
        raise StudyBuildError(error.prefixed("systems")) from None


def generate_missing_candidates(
    spec,
    context_rows: dict[str, Context],
    *,
    progress: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> dict[str, dict[str, Candidate]]:
    """The candidates of the spec's generated systems over stored contexts:
    {system name: {context id: the candidate of sample `sample_index`}} (see
    `generation.services.ensure_candidates`: jobs are reused, resumed or created and run)."""
    return _ensure_candidates(spec, lambda: context_rows, progress=progress, timeout=timeout)


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
            dataset=dataset,
            external_id=check.id,
            defaults={
                "turns": turns,
                "reference_response": None,
                "metadata": {"attention_check": check.id},
            },
        )
        row: dict[str, Any] = {"context": context, "expect": check.to_dict(spec.protocol)["expect"]}
        for field in fields:
            row[field], _ = Candidate.objects.update_or_create(
                source_key=fit_key(f"attention:{spec.name}:{check.id}:{field}", SOURCE_KEY_CHARS),
                defaults={
                    "system": system,
                    "context": context,
                    "text": getattr(check, field),
                    "provenance": {
                        "source": "attention_check",
                        "check": check.id,
                        "response": field,
                    },
                },
            )
        out[check.id] = row
    return out


def _attention_item(study: Study, designed, attention: dict[str, dict[str, Any]]) -> Item:
    check = attention[designed.attention_check]
    sides = tuple(designed.systems)
    expect = check["expect"]
    if len(sides) == 2 and sides[0] == "response_b":
        expect = swap_sides(expect)  # judgments say "a" for side A, the left response
    return Item(
        study=study,
        context=check["context"],
        candidate=check[sides[0]],
        candidate_b=check[sides[1]] if len(sides) == 2 else None,
        output_key=f"attention:{designed.attention_check}",
        attention_check_id=designed.attention_check,
        attention_expect=expect,
        control_kind="attention",
    )


def _item_key(designed) -> tuple:
    if designed.degradation is not None:
        return ("degraded", designed.context_id, tuple(designed.systems), designed.degradation)
    if designed.attention_check is not None:
        return ("attention", designed.attention_check, tuple(designed.systems))
    if designed.gold is not None:
        return ("gold", designed.gold, tuple(designed.systems))
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
            if designed.degradation is not None or designed.gold is not None:
                continue  # stored after the real items (degraded_items, gold_items)
            cid, systems = designed.context_id, tuple(designed.systems)
            if len(systems) == 1:
                output_key = f"{cid}|{systems[0]}"
                candidate_b = None
            else:  # (A, B): A is shown on the left
                output_key = f"{cid}|{'~'.join(sorted(systems))}"
                candidate_b = candidates[(systems[1], cid)]
            items[key] = Item(
                study=study,
                context=context_rows[cid],
                candidate=candidates[(systems[0], cid)],
                candidate_b=candidate_b,
                output_key=fit_key(output_key, OUTPUT_KEY_CHARS),
            )
    Item.objects.bulk_create(list(items.values()))
    # Degraded copies point at their originals, which now have ids.
    items.update(degraded_items(study, design, items, candidates, _item_key))
    items.update(gold_items(study, design, _item_key))
    batch_rows = Batch.objects.bulk_create(
        [
            Batch(
                study=study,
                index=b.index,
                kind=b.kind,
                ordering=list(b.ordering or []),
                slots=b.slots,
            )
            for b in design.batches
        ]
    )
    entries, slots = [], []
    for batch_row, batch in zip(batch_rows, design.batches, strict=True):
        for position, designed in enumerate(batch.items):
            entries.append(
                BatchEntry(
                    batch=batch_row,
                    position=position,
                    block_index=designed.block_index,
                    item=items[_item_key(designed)],
                )
            )
        slots.extend(BatchSlot(batch=batch_row, slot_index=i) for i in range(batch.slots))
    BatchEntry.objects.bulk_create(entries, batch_size=2000)
    BatchSlot.objects.bulk_create(slots, batch_size=2000)
