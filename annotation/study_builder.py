"""Create a study in the database from a validated spec (the thin shell around design.py).

spec → contexts (sampled, stratified) → candidates per system → designed batches →
Items, Batches, BatchEntries, BatchSlots, all in one transaction: an error leaves nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from generation.models import Candidate, Context, Dataset, System

from . import design as design_module
from . import spec as spec_module
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


def build_study_from_spec(spec, source: str = "") -> BuiltStudy:
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

    with transaction.atomic():
        dataset, _ = Dataset.objects.get_or_create(
            name=f"{name}-contexts", defaults={"format": "jsonl", "source_path": str(contexts_path)}
        )
        context_rows = _store_contexts(dataset, [by_id[c] for c in chosen_ids])
        candidates = _store_candidates(spec, context_rows, by_id)
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
        _store_batches(study, design, context_rows, candidates)
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


def _store_candidates(spec, context_rows, records) -> dict[tuple[str, str], Candidate]:
    """One candidate per (system, sampled context), keyed for the designer's ids."""
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


def _system_config(system_spec: dict) -> dict:
    return {k: v for k, v in system_spec.items() if k not in ("name", "kind")}


def _store_batches(study: Study, design, context_rows, candidates) -> None:
    items: dict[tuple, Item] = {}
    for batch in design.batches:
        for designed in batch.items:
            key = (designed.context_id, tuple(designed.systems))
            if key in items:
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
                item=items[(designed.context_id, tuple(designed.systems))],
            ))
        slots.extend(BatchSlot(batch=batch_row, slot_index=i) for i in range(batch.slots))
    BatchEntry.objects.bulk_create(entries, batch_size=2000)
    BatchSlot.objects.bulk_create(slots, batch_size=2000)
