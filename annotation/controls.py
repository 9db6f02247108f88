"""Quality-control items stored with a study: degraded copies and gold items (the Django shell).

The designer (``annotation.design.degraded``) places the copies and makes their texts;
this stores each degraded text as a candidate of the reserved system ``degraded-copy``
(provenance: the degradation, the original candidate, the unrelated donor), so a copy is
reproducible and exported like any response, and its item (``control_kind`` "degraded",
``control_of`` the original item).

Gold items in batches (``annotation.design.gold``) are stored like attention checks: the
conversation in the dataset ``<study>-gold``, each response a candidate of the reserved
system ``gold-item``, one item per gold id and orientation (``control_kind`` "gold",
``attention_expect`` the answers in screen terms, ``attention_check_id`` blank so they
never count as attention checks).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from core.limits import fit_key
from generation.models import Candidate, Context, Dataset, System

from . import design as design_module
from .answers import swap_sides
from .models import Item, Study
from .spec.parts import DEGRADED_SYSTEM, GOLD_SYSTEM

SOURCE_KEY_CHARS = 300
OUTPUT_KEY_CHARS = 400


def _system() -> System:
    system, _ = System.objects.get_or_create(
        name=DEGRADED_SYSTEM,
        defaults={"kind": System.Kind.IMPORTED, "config": {"source": "degraded_copy"}},
    )
    return system


def _donor(candidates: Mapping[tuple[str, str], Candidate], cid: str, key: str) -> Candidate:
    """A response from another context, chosen by ``key`` (the same in every process)."""
    others = sorted((k for k in candidates if k[1] != cid), key=str)
    pool = others or sorted(candidates, key=str)
    return candidates[random.Random(f"donor:{key}").choice(pool)]


def degraded_items(
    study: Study,
    design: Any,
    items: Mapping[tuple, Item],
    candidates: Mapping[tuple[str, str], Candidate],
    item_key: Callable[[Any], tuple],
) -> dict[tuple, Item]:
    """Store the degraded copies of ``design`` (originals already in ``items``, saved)."""
    out: dict[tuple, Item] = {}
    system = None
    for batch in design.batches:
        for designed in batch.items:
            key = item_key(designed)
            if designed.degradation is None or key in out:
                continue
            system = system or _system()
            original = design_module.original_of(batch, designed)
            cid = designed.context_id
            side = next(s for s in designed.systems if s != design_module.DEGRADED_SIDE)
            source = candidates[(side, cid)]
            seed_key = f"{study.name}:{cid}:{side}:{designed.degradation}"
            donor = _donor(candidates, cid, seed_key)
            text = design_module.degrade_text(
                source.text, designed.degradation, donor.text, seed_key
            )
            degraded, _ = Candidate.objects.update_or_create(
                source_key=fit_key(f"degraded:{seed_key}", SOURCE_KEY_CHARS),
                defaults={
                    "system": system,
                    "context": source.context,
                    "text": text,
                    "provenance": {
                        "source": "degraded_copy",
                        "degradation": designed.degradation,
                        "original_candidate": source.pk,
                        "original_system": side,
                        "unrelated_candidate": donor.pk,
                    },
                },
            )
            if len(designed.systems) == 1:  # rating: the degraded text alone
                shown = [degraded]
            else:  # pairwise: the original side against its degraded text
                shown = [
                    degraded if s == design_module.DEGRADED_SIDE else source
                    for s in designed.systems
                ]
            out[key] = Item(
                study=study,
                context=source.context,
                candidate=shown[0],
                candidate_b=shown[1] if len(shown) == 2 else None,
                output_key=fit_key(
                    f"degraded:{cid}|{side}:{designed.degradation}", OUTPUT_KEY_CHARS
                ),
                control_kind="degraded",
                control_of=items[item_key(original)],
            )
    Item.objects.bulk_create(list(out.values()))
    return out


def _gold_rows(study: Study) -> dict[str, dict[str, Any]]:
    """Store the spec's gold items; {gold id: {"context", "expect", response fields}}."""
    gold = (study.spec.get("quality_control") or {}).get("gold") or {}
    system, _ = System.objects.get_or_create(
        name=GOLD_SYSTEM, defaults={"kind": System.Kind.IMPORTED, "config": {"source": "gold"}}
    )
    dataset, _ = Dataset.objects.get_or_create(
        name=f"{study.name}-gold", defaults={"format": "gold_items", "source_path": ""}
    )
    fields = ("response_a", "response_b") if study.protocol == "pairwise" else ("response",)
    out: dict[str, dict[str, Any]] = {}
    for entry in gold.get("items", []):
        context, _ = Context.objects.update_or_create(
            dataset=dataset,
            external_id=entry["id"],
            defaults={
                "turns": entry["context"],
                "reference_response": None,
                "metadata": {"gold": entry["id"]},
            },
        )
        row: dict[str, Any] = {"context": context, "expect": entry["expect"]}
        for field in fields:
            row[field], _ = Candidate.objects.update_or_create(
                source_key=fit_key(f"gold:{study.name}:{entry['id']}:{field}", SOURCE_KEY_CHARS),
                defaults={
                    "system": system,
                    "context": context,
                    "text": entry[field],
                    "provenance": {"source": "gold", "gold": entry["id"], "response": field},
                },
            )
        out[entry["id"]] = row
    return out


def gold_items(study: Study, design: Any, item_key: Callable[[Any], tuple]) -> dict[tuple, Item]:
    """Store the gold items ``design`` places in batches (none: no query)."""
    designed = {item_key(it): it for b in design.batches for it in b.items if it.gold is not None}
    if not designed:
        return {}
    rows = _gold_rows(study)
    out: dict[tuple, Item] = {}
    for key, it in designed.items():
        row = rows[it.gold]
        sides = tuple(it.systems)
        expect = row["expect"]
        if len(sides) == 2 and sides[0] == "response_b":
            expect = swap_sides(expect)  # judgments say "a" for the left response
        out[key] = Item(
            study=study,
            context=row["context"],
            candidate=row[sides[0]],
            candidate_b=row[sides[1]] if len(sides) == 2 else None,
            output_key=fit_key(f"gold:{it.gold}", OUTPUT_KEY_CHARS),
            attention_expect=expect,
            control_kind="gold",
        )
    Item.objects.bulk_create(list(out.values()))
    return out
