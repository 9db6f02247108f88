"""Pairwise designs: batches of (context, system pair) comparisons with balanced sides.

Part of the batch designer (see ``annotation/design/__init__.py`` and ``annotation/design.md``).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from .checks import check_pairwise_parameters
from .rating import _Builder
from .report import build_report
from .types import PAIRWISE, Design, DesignedItem, DesignError


def design_pairwise_batches(
    context_ids: Sequence[str],
    pairs: Sequence[Sequence[str]],
    batch_size: int,
    overlap: int = 3,
    repeat_context_in_batch: bool = False,
    seed: int = 0,
) -> Design:
    """Design the batches of a pairwise (A/B) study (see design.md).

    Every (context, pair) comparison gets ``overlap`` judgments; its left/right order
    alternates from one judgment to the next, and the odd one out alternates between
    contexts, so each pair is shown each way round equally often (within one).
    """
    context_ids = [str(c) for c in context_ids]
    pairs = [tuple(str(s) for s in pair) for pair in pairs]
    problems = check_pairwise_parameters(
        len(context_ids), pairs, batch_size, overlap, repeat_context_in_batch
    )
    dup = sorted(c for c, n in Counter(context_ids).items() if n > 1)
    if dup:
        problems.append(("context_ids", f"duplicate context ids: {', '.join(dup[:5])}"))
    if problems:
        raise DesignError(problems)

    rng = random.Random(seed)
    order = list(context_ids)
    rng.shuffle(order)
    n, n_pairs = len(order), len(pairs)
    builder = _Builder()

    def item(x: int, pair_index: int, judgment: int, position: int) -> DesignedItem:
        a, b = pairs[pair_index]
        left_right = (a, b) if (judgment + x) % 2 == 0 else (b, a)
        return DesignedItem(order[x], left_right, 0, position)

    if n % batch_size == 0:
        # Groups of batch_size contexts; round `judgment`, row `row`: position p shows
        # pair (row + p) mod P, so every pair visits every position once per round.
        for g in range(n // batch_size):
            for judgment in range(overlap):
                for row in range(n_pairs):
                    items = tuple(
                        item(g * batch_size + pos, (row + pos) % n_pairs, judgment, pos)
                        for pos in range(batch_size)
                    )
                    builder.add(PAIRWISE, (), items, 1)
    else:
        # repeat_context_in_batch: one stream of all n x P comparisons per round, cut into
        # batches; context x meets pair (r + x) mod P in lap r of the stream. Round j
        # starts the (cyclic) stream j places later, so comparisons change position.
        base = [(t % n, (t // n + t % n) % n_pairs) for t in range(n * n_pairs)]
        for judgment in range(overlap):
            shift = judgment % len(base)
            stream = base[shift:] + base[:shift]
            for start in range(0, len(stream), batch_size):
                chunk = stream[start : start + batch_size]
                items = tuple(item(x, pi, judgment, pos) for pos, (x, pi) in enumerate(chunk))
                builder.add(PAIRWISE, (), items, 1)

    batches = builder.batches()
    systems: list[str] = []
    for pair in pairs:
        for s in pair:
            if s not in systems:
                systems.append(s)
    params = {
        "protocol": "pairwise",
        "n_contexts": n,
        "systems": systems,
        "pairs": [list(p) for p in pairs],
        "batch_size": batch_size,
        "overlap": overlap,
        "repeat_context_in_batch": bool(repeat_context_in_batch),
        "seed": seed,
    }
    return Design(batches=batches, report=build_report(batches, params))
