"""Gold items in batches: every gold item of the spec in every batch, seeded, never first.

Part of the batch designer (see ``annotation/design/__init__.py`` and ``annotation/design.md``,
"Gold items"). Gold items (``quality_control.gold`` with ``placement: batch``) are items
with known answers, shaped like attention checks; unlike attention checks (a rotation of
``per_batch`` of them), each gold item is shown to every annotator, so the gold accuracy of
``annotation.decisions`` is over the same items for everyone. Hand-written for the reason
attention checks are: no library places control items in a design.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .attention import ATTENTION_PAIR, ATTENTION_RESPONSE
from .types import Design, DesignedBatch, DesignedItem, DesignError


def insert_gold_items(design: Design, gold_ids: Sequence[str], seed: int = 0) -> Design:
    """Put every gold item of ``gold_ids`` into every non-empty batch of ``design``.

    * Places are drawn per batch from ``random.Random("gold-items:<seed>")`` among all but
      the first (an annotator always starts with a real item), in a seeded order; the
      other items keep their order and ``position`` becomes the screen position.
    * A gold item takes the block of the item it is inserted before (the last item's
      block when it comes last). Pairwise: ``systems`` says which response is on the left
      (``("response_a", "response_b")`` or the reverse), alternating per gold item,
      weighted by slots, so each shows its response A left about half the time.
    * Gold items are controls: ``output_counts`` and the report's counts leave them out;
      ``report["gold"]`` states them (items, judgments, uses per gold item).
    """
    ids = [str(g) for g in gold_ids]
    problems = []
    if not ids:
        problems.append(("gold", "needs at least one gold item"))
    dup = sorted(g for g, n in Counter(ids).items() if n > 1)
    if dup:
        problems.append(("gold", f"duplicate gold ids: {', '.join(dup[:5])}"))
    if any(it.gold is not None for b in design.batches for it in b.items):
        problems.append(("gold", "the design already has gold items"))
    if problems:
        raise DesignError(problems)
    pairwise = design.report.get("protocol") == "pairwise"
    rng = random.Random(f"gold-items:{seed}")
    left: dict[str, Counter] = {g: Counter() for g in ids}
    uses: Counter = Counter()
    n_items = 0
    batches: list[DesignedBatch] = []
    for batch in design.batches:
        old = list(batch.items)
        if not old:
            batches.append(batch)
            continue
        length = len(old) + len(ids)
        spots = sorted(rng.sample(range(1, length), len(ids)))
        order = list(ids)
        rng.shuffle(order)
        placed = dict(zip(spots, order, strict=True))
        items: list[DesignedItem] = []
        k = 0  # earlier items placed so far
        for pos in range(length):
            gold = placed.get(pos)
            if gold is None:
                items.append(old[k]._replace(position=pos))
                k += 1
                continue
            block = old[k].block_index if k < len(old) else old[-1].block_index
            shown: tuple[str, ...] = ATTENTION_RESPONSE
            if pairwise:
                sides = left[gold]
                a_left = sides["response_a"] <= sides["response_b"]
                shown = ATTENTION_PAIR if a_left else ATTENTION_PAIR[::-1]
                sides[shown[0]] += batch.slots
            items.append(DesignedItem(gold, shown, block, pos, gold=gold))
            uses[gold] += batch.slots
            n_items += 1
        batches.append(dataclasses.replace(batch, items=tuple(items)))
    report = dict(design.report)
    gold_report: dict[str, Any] = {
        "items": ids,
        "seed": seed,
        "n_items": n_items,
        "n_judgments": sum(uses.values()),
        "uses": {g: uses[g] for g in ids},
    }
    if pairwise:
        gold_report["response_a_left"] = {
            g: {"left": left[g]["response_a"], "right": left[g]["response_b"]} for g in ids
        }
    report["gold"] = gold_report
    return Design(batches=tuple(batches), report=report)
