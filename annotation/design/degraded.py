"""Degraded copies of real items: seeded insertion later in the same batch, and the texts.

Part of the batch designer (see ``annotation/design/__init__.py`` and ``annotation/design.md``,
"Degraded controls"). Hand-written because no library makes quality-control copies; the
rules are few: a copy comes after its original, never adjacent to it, never first.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .types import Design, DesignedBatch, DesignedItem, DesignError

DEGRADATIONS = ("replace_span", "shuffle_words", "unrelated_response")
#: Pairwise copies: the name of the degraded side in ``DesignedItem.systems``.
DEGRADED_SIDE = "~degraded"
# replace_span: the share of the response's words replaced.
SPAN_SHARE = 0.3


def copies_per_batch(n_real: int, share: float) -> int:
    """Copies in a batch of ``n_real`` real items: ``share`` of them rounded, at least one
    when the batch has two real items (a copy needs an item between it and its original)."""
    if n_real < 2 or share <= 0:
        return 0
    return min(n_real - 1, max(1, round(share * n_real)))


def insert_degraded_copies(
    design: Design, share: float, kinds: Sequence[str], seed: int = 0
) -> Design:
    """Add degraded copies of ``share`` of each batch's real items to that batch.

    * Originals are drawn per batch from a seeded generator among the real items but the
      last; each copy goes at a seeded place after its original with at least one item
      between them, so it is never first and never adjacent to its original (later
      insertions only separate neighbours).
    * Degradations rotate through a seeded order of ``kinds``.
    * Pairwise: the copy pairs one side of the original with its degraded text, sides
      drawn by the seed; the original is the known better answer.
    * Controls never enter the report's counts; ``report["degraded"]`` states them.
    """
    kinds = [str(k) for k in kinds]
    problems = [("kinds", f"unknown degradation {k!r}") for k in kinds if k not in DEGRADATIONS]
    if not kinds:
        problems.append(("kinds", "needs at least one degradation"))
    if not 0 < share <= 1:
        problems.append(("share", f"must be in (0, 1], got {share!r}"))
    if any(it.degradation is not None for b in design.batches for it in b.items):
        problems.append(("kinds", "the design already has degraded copies"))
    if problems:
        raise DesignError(problems)
    pairwise = design.report.get("protocol") == "pairwise"
    rng = random.Random(f"degraded-copies:{seed}")
    rotation = list(kinds)
    rng.shuffle(rotation)
    cursor = 0
    used: Counter = Counter()
    n_items = n_judgments = 0
    batches: list[DesignedBatch] = []
    for batch in design.batches:
        items = list(batch.items)
        real = [i for i, it in enumerate(items) if not it.is_control]
        m = copies_per_batch(len(real), share)
        if m == 0:
            batches.append(batch)
            continue
        originals = [items[i] for i in sorted(rng.sample(real[:-1], m))]
        for original in originals:
            kind = rotation[cursor % len(rotation)]
            cursor += 1
            at = items.index(original)
            spot = rng.randint(at + 2, len(items))  # insert before items[spot]
            if pairwise:
                side = original.systems[rng.randrange(2)]
                shown: tuple[str, ...] = (
                    (side, DEGRADED_SIDE) if rng.random() < 0.5 else (DEGRADED_SIDE, side)
                )
            else:
                shown = original.systems
            copy = DesignedItem(
                original.context_id, shown, original.block_index, 0, degradation=kind
            )
            items.insert(spot, copy)
            used[kind] += batch.slots
            n_items += 1
            n_judgments += batch.slots
        items = [it._replace(position=p) for p, it in enumerate(items)]
        batches.append(dataclasses.replace(batch, items=tuple(items)))
    report = dict(design.report)
    report["degraded"] = {
        "share": share,
        "kinds": kinds,
        "seed": seed,
        "n_items": n_items,
        "n_judgments": n_judgments,
        "uses": {k: used[k] for k in kinds},
    }
    return Design(batches=tuple(batches), report=report)


def original_of(batch: DesignedBatch, copy: DesignedItem) -> DesignedItem:
    """The real item ``copy`` degrades: the same context and (one of) its systems."""
    side = next(s for s in copy.systems if s != DEGRADED_SIDE)
    return next(
        it
        for it in batch.items
        if not it.is_control and it.context_id == copy.context_id and side in it.systems
    )


def degrade_text(text: str, kind: str, unrelated: str, key: str) -> str:
    """``text`` degraded by ``kind``; ``unrelated`` is a response from another context;
    ``key`` seeds the choice (the same key gives the same text in every process)."""
    rng = random.Random(f"degrade:{key}")
    if kind == "unrelated_response":
        return unrelated
    words = text.split()
    if kind == "shuffle_words":
        if len(set(words)) < 2:
            return unrelated  # nothing to shuffle: a one-word response
        shuffled = list(words)
        while shuffled == words:
            rng.shuffle(shuffled)
        return " ".join(shuffled)
    if kind == "replace_span":
        donor = unrelated.split() or ["…"]
        n = max(1, round(SPAN_SHARE * len(words)))
        n = min(n, len(donor))
        start = rng.randrange(max(1, len(words) - n + 1))
        d_start = rng.randrange(len(donor) - n + 1)
        return " ".join(words[:start] + donor[d_start : d_start + n] + words[start + n :])
    raise DesignError([("kinds", f"unknown degradation {kind!r}")])


def degraded_summary(design: Design) -> dict[str, Any]:
    """Per batch: (original position, copy position, degradation) of each copy."""
    out: dict[str, Any] = {}
    for batch in design.batches:
        rows = []
        for copy in batch.items:
            if copy.degradation is not None:
                rows.append((original_of(batch, copy).position, copy.position, copy.degradation))
        out[str(batch.index)] = rows
    return out
