"""Rating designs: batches of blocks from one system, counterbalanced block orders.

Part of the batch designer (see ``annotation/design/__init__.py`` and ``annotation/design.md``).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Sequence

from .checks import check_rating_parameters, default_block_systems
from .report import build_report
from .types import BLOCK_RANDOMISED, SINGLE_SYSTEM, Design, DesignedBatch, DesignedItem, DesignError


def _rotation_classes(systems: Sequence[str]) -> list[tuple[str, ...]]:
    """One representative per rotation class of the permutations of ``systems``.

    Representatives start with ``systems[0]``; the m rotations of each form a Latin
    square, and the (m-1)! classes together are all m! permutations.
    """
    first, rest = systems[0], systems[1:]
    return [(first, *perm) for perm in itertools.permutations(rest)]


class _Builder:
    """Collects batches, merging identical ones into one batch with more slots."""

    def __init__(self) -> None:
        self._slots: dict[tuple, int] = {}

    def add(
        self, kind: str, ordering: tuple[str, ...], items: tuple[DesignedItem, ...], slots: int
    ) -> None:
        if slots <= 0:
            return
        key = (kind, ordering, items)
        self._slots[key] = self._slots.get(key, 0) + slots

    def batches(self) -> tuple[DesignedBatch, ...]:
        return tuple(
            DesignedBatch(index=i, slots=slots, kind=kind, ordering=ordering, items=items)
            for i, ((kind, ordering, items), slots) in enumerate(self._slots.items())
        )


def design_rating_batches(
    context_ids: Sequence[str],
    systems: Sequence[str],
    batch_size: int,
    block_size: int | None = None,
    overlap: int = 3,
    ordering: str = "all_permutations",
    repeat_context_in_batch: bool = False,
    block_randomised_systems: Sequence[str] | None = None,
    seed: int = 0,
) -> Design:
    """Design the batches of a rating study (see design.md).

    ``block_randomised_systems=None`` means every system when a batch has more than one
    block, none otherwise; systems not in it get single-system batches only.
    ``repeat_context_in_batch`` never changes a rating design: every rating batch shows
    ``batch_size`` different contexts, which is always possible here.
    """
    context_ids = [str(c) for c in context_ids]
    systems = [str(s) for s in systems]
    problems = check_rating_parameters(
        len(context_ids),
        systems,
        batch_size,
        block_size,
        overlap,
        ordering,
        block_randomised_systems,
    )
    dup = sorted(c for c, n in Counter(context_ids).items() if n > 1)
    if dup:
        problems.append(("context_ids", f"duplicate context ids: {', '.join(dup[:5])}"))
    if problems:
        raise DesignError(problems)
    block_size = batch_size if block_size is None else block_size
    blocks = batch_size // block_size
    brs = default_block_systems(systems, blocks, block_randomised_systems)
    m = len(brs)

    rng = random.Random(seed)
    order = list(context_ids)
    rng.shuffle(order)
    groups = [tuple(order[i : i + batch_size]) for i in range(0, len(order), batch_size)]
    reps = _rotation_classes(brs) if m >= 2 else []
    builder = _Builder()

    def single(group: tuple[str, ...], system: str, slots: int) -> None:
        items = tuple(
            DesignedItem(cid, (system,), pos // block_size, pos) for pos, cid in enumerate(group)
        )
        builder.add(SINGLE_SYSTEM, (system,) * blocks, items, slots)

    for g, group in enumerate(groups):
        remainder = 0
        if m >= 2:
            if ordering == "all_permutations":
                per_set = len(reps)  # (m-1)! judgments per output per full set
                rounds = [(rep, 1) for rep in reps] * (overlap // per_set)
                remainder = overlap % per_set
            elif ordering == "latin_square":
                rounds = [(reps[g % len(reps)], overlap)]
            else:  # random: a fresh random cyclic Latin square per judgment
                rounds = [(tuple(rng.sample(brs, m)), 1) for _ in range(overlap)]
            for base, slots in rounds:
                for shift in range(m):
                    block_systems = tuple(base[(shift + b) % m] for b in range(blocks))
                    items = tuple(
                        DesignedItem(
                            cid, (block_systems[pos // block_size],), pos // block_size, pos
                        )
                        for pos, cid in enumerate(group)
                    )
                    builder.add(BLOCK_RANDOMISED, block_systems, items, slots)
            for system in brs:
                single(group, system, remainder)
        for system in systems:
            if system not in brs:
                single(group, system, overlap)

    batches = builder.batches()
    params = {
        "protocol": "rating",
        "n_contexts": len(context_ids),
        "systems": list(systems),
        "batch_size": batch_size,
        "block_size": block_size,
        "blocks_per_batch": blocks,
        "overlap": overlap,
        "ordering": ordering,
        "block_randomised_systems": list(brs),
        "repeat_context_in_batch": bool(repeat_context_in_batch),
        "seed": seed,
    }
    return Design(batches=batches, report=build_report(batches, params))
