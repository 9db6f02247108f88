"""Attention checks: seeded insertion into every batch, never first.

Part of the batch designer (see ``annotation/design/__init__.py`` and ``annotation/design.md``).
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .types import Design, DesignedBatch, DesignedItem, DesignError, Names, Problems, name_of

ATTENTION_RESPONSE = ("response",)  # rating: the check's one response
ATTENTION_PAIR = ("response_a", "response_b")  # pairwise: response_a shown left


def check_attention_parameters(
    check_ids: Sequence[str], per_batch: int, names: Names | None = None
) -> Problems:
    """Everything that makes ``insert_attention_checks`` impossible, as (parameter, reason)."""
    p: Problems = []
    ids = [str(c) for c in check_ids]
    dup = sorted(c for c, n in Counter(ids).items() if n > 1)
    if dup:
        p.append(("attention_checks", f"duplicate check ids: {', '.join(dup[:5])}"))
    checks = name_of("attention_checks", names)
    if isinstance(per_batch, bool) or not isinstance(per_batch, int) or per_batch < 0:
        p.append(("attention_checks_per_batch", f"must be a whole number >= 0, got {per_batch!r}"))
    elif per_batch > len(ids):
        p.append(
            (
                "attention_checks_per_batch",
                f"{per_batch} per batch needs {per_batch} distinct attention "
                f"check{'s' if per_batch != 1 else ''}, "
                + (
                    f"but {checks} has {len(ids)}"
                    if ids
                    else f"but the spec has none (add them under {checks})"
                ),
            )
        )
    return p


def insert_attention_checks(
    design: Design, check_ids: Sequence[str], per_batch: int, seed: int = 0
) -> Design:
    """Put ``per_batch`` distinct attention checks into every batch of ``design``.

    * Positions are drawn per batch from a seeded generator, among all places but the first
      (an annotator always starts with a real item). Real items keep their order; their
      ``position`` becomes the screen position, so the items after a check move one place.
    * Checks are used in rotation (a seeded order of ``check_ids``, ``per_batch`` at a
      time, continuing where the last batch stopped), so each is used about equally often.
    * An attention item takes the block of the real item it is inserted before (the last
      real item's block when it comes last). Its ``context_id`` is the check id; in pairwise
      designs ``systems`` says which response of the check is on the left, alternating
      (weighted by slots) so each check shows its response A left about half the time.
    * ``report`` keeps the counts of the real items (positions there are places among
      the real items) and gains ``attention``: the checks, per_batch, attention judgments,
      slot-weighted uses per check, screen positions, and sides for pairwise checks.

    Deterministic for a seed; pure, like the rest of this module.
    """
    ids = [str(c) for c in check_ids]
    problems = check_attention_parameters(ids, per_batch)
    if any(it.attention_check is not None for b in design.batches for it in b.items):
        problems.append(("attention_checks", "the design already has attention checks"))
    if problems:
        raise DesignError(problems)
    pairwise = design.report.get("protocol") == "pairwise"
    rng = random.Random(f"attention-checks:{seed}")
    rotation = list(ids)
    rng.shuffle(rotation)
    cursor = 0
    uses: Counter = Counter()
    batches_with: Counter = Counter()
    left: dict[str, Counter] = {c: Counter() for c in ids}
    positions: Counter = Counter()
    batches: list[DesignedBatch] = []
    for batch in design.batches:
        real = batch.items
        if per_batch == 0 or not real:
            batches.append(batch)
            continue
        chosen = [rotation[(cursor + i) % len(rotation)] for i in range(per_batch)]
        cursor = (cursor + per_batch) % len(rotation)
        rng.shuffle(chosen)
        length = len(real) + per_batch
        spots = set(rng.sample(range(1, length), per_batch))
        items: list[DesignedItem] = []
        k = 0  # real items placed so far
        checks = iter(chosen)
        for pos in range(length):
            if pos not in spots:
                items.append(real[k]._replace(position=pos))
                k += 1
                continue
            check = next(checks)
            block = real[k].block_index if k < len(real) else real[-1].block_index
            shown: tuple[str, ...]
            if pairwise:
                sides = left[check]
                a_left = sides["response_a"] <= sides["response_b"]
                shown = ATTENTION_PAIR if a_left else ATTENTION_PAIR[::-1]
                sides[shown[0]] += batch.slots
            else:
                shown = ATTENTION_RESPONSE
            items.append(DesignedItem(check, shown, block, pos, attention_check=check))
            uses[check] += batch.slots
            batches_with[check] += 1
            positions[pos] += batch.slots
        batches.append(dataclasses.replace(batch, items=tuple(items)))
    report = dict(design.report)
    longest = max((len(b.items) for b in batches), default=0)
    attention: dict[str, Any] = {
        "checks": ids,
        "per_batch": per_batch,
        "seed": seed,
        "n_items": sum(per_batch for b in design.batches if b.items),
        "n_judgments": sum(uses.values()),
        "uses": {c: uses[c] for c in ids},
        "batches_per_check": {c: batches_with[c] for c in ids},
        "position": [positions[i] for i in range(longest)],
    }
    if pairwise:
        attention["response_a_left"] = {
            c: {"left": left[c]["response_a"], "right": left[c]["response_b"]} for c in ids
        }
    report["attention"] = attention
    return Design(batches=tuple(batches), report=report)
