"""Batch designer: which outputs each annotator batch shows, in which order.

Pure and deterministic: no Django, no global random state. The same inputs and seed give
the same design in every process (``random.Random(seed)`` only). The algorithm and the
reasons behind it are written up in ``design.md`` next to this module.

Vocabulary
    output       one (context, system) response to be rated (rating studies) or one
                 (context, system pair) comparison (pairwise studies)
    batch        the ordered list of items one annotator works through
    slots        how many annotators receive that exact batch
    block        ``block_size`` consecutive items of a rating batch from one system
    group        ``batch_size`` contexts that are always shown together, in one order
    round        a set of batches that gives every output of a group exactly one judgment
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

__all__ = [
    "BLOCK_RANDOMISED",
    "ORDERINGS",
    "PAIRWISE",
    "SINGLE_SYSTEM",
    "Design",
    "DesignError",
    "DesignedBatch",
    "DesignedItem",
    "check_attention_parameters",
    "check_blocks",
    "check_pairs",
    "check_pairwise_parameters",
    "check_rating_parameters",
    "check_sampling_parameters",
    "default_block_systems",
    "name_of",
    "design_pairwise_batches",
    "design_rating_batches",
    "design_report_text",
    "insert_attention_checks",
    "output_counts",
    "sample_contexts",
]

ORDERINGS = ("all_permutations", "latin_square", "random")
BLOCK_RANDOMISED = "block_randomised"
SINGLE_SYSTEM = "single_system"
PAIRWISE = "pairwise"

# all_permutations enumerates m! block orders; beyond this it is never what anyone wants.
MAX_PERMUTED_SYSTEMS = 6


class DesignError(ValueError):
    """Impossible design or sampling parameters.

    ``problems`` is a list of ``(parameter, reason)``; ``parameter`` is the name of the
    function argument at fault (``batch_size``, ``overlap``, ``context_ids``, or one item
    of a list argument, ``pairs[1]``), which ``annotation.spec`` maps to the spec field
    (``design.batch_size``...).
    """

    def __init__(self, problems: Sequence[tuple[str, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{param}: {reason}" for param, reason in self.problems))


Problems = list[tuple[str, str]]
#: How a caller names the parameters (``{"batch_size": "design.batch_size"}``); the checks
#: below use it for the parameters their reasons mention, so a spec's problems name spec
#: fields. Unnamed parameters keep their own names.
Names = Mapping[str, str]


def name_of(param: str, names: Names | None = None) -> str:
    """``param`` as ``names`` calls it; ``pairs[1]`` is item 1 of what ``pairs`` is called."""
    base, bracket, index = param.partition("[")
    return (names or {}).get(base, base) + bracket + index


class DesignedItem(NamedTuple):
    context_id: str
    systems: tuple[str, ...]  # (system,) for rating; (left, right) for pairwise
    block_index: int  # block of the batch (rating); 0 for pairwise
    position: int  # 0-based position in the batch
    # Attention checks (``insert_attention_checks``): the check's id, else None. For an
    # attention item ``context_id`` is the check id too, and ``systems`` names the check's
    # responses in screen order: ("response",), or ("response_a", "response_b") / the
    # reverse for pairwise checks.
    attention_check: str | None = None


@dataclass(frozen=True)
class DesignedBatch:
    index: int
    slots: int  # annotators who receive this exact batch
    kind: str  # "block_randomised" | "single_system" | "pairwise"
    ordering: tuple[str, ...]  # system of each block (rating); () for pairwise
    items: tuple[DesignedItem, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "slots": self.slots,
            "kind": self.kind,
            "ordering": list(self.ordering),
            "items": [_item_dict(it) for it in self.items],
        }


def _item_dict(it: DesignedItem) -> dict[str, Any]:
    d: dict[str, Any] = {
        "context_id": it.context_id,
        "systems": list(it.systems),
        "block_index": it.block_index,
        "position": it.position,
    }
    if it.attention_check is not None:
        d["attention_check"] = it.attention_check
    return d


@dataclass(frozen=True)
class Design:
    batches: tuple[DesignedBatch, ...]
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"batches": [b.to_dict() for b in self.batches], "report": self.report}


# --------------------------------------------------------------------------- sampling


def _context_key(c: Any) -> tuple[str, Mapping[str, Any]]:
    if isinstance(c, tuple | list) and len(c) == 2:
        cid, meta = c
    else:  # ContextRecord or anything with .id / .metadata
        cid, meta = c.id, c.metadata
    return str(cid), (meta or {})


def _stratum_sort_key(value: Any) -> tuple[str, str]:
    return (type(value).__name__, str(value))


def sample_contexts(
    contexts: Sequence[Any],
    n_contexts: int | None = None,
    stratify_by: str | None = None,
    per_stratum: int | None = None,
    seed: int = 0,
) -> list[str]:
    """Choose the contexts of a study; returns their ids.

    ``contexts`` holds ContextRecord objects or ``(id, metadata)`` pairs.

    * No ``stratify_by``: all contexts (input order) or a seeded sample of ``n_contexts``.
    * ``stratify_by``: contexts are grouped by ``metadata[stratify_by]``; strata are taken
      in sorted order and ``per_stratum`` are drawn from each (default
      ``n_contexts // number of strata``); if ``n_contexts`` is larger than what that
      gives, the rest is drawn at random from the contexts not yet chosen. EmPO: 32
      emotions x 4 = 128, then 7 more at random = 135.
    """
    keyed = [_context_key(c) for c in contexts]
    ids = [cid for cid, _ in keyed]
    problems: Problems = []
    dup = sorted(cid for cid, n in Counter(ids).items() if n > 1)
    if dup:
        problems.append(("contexts", f"duplicate context ids: {', '.join(dup[:5])}"))
    problems += check_sampling_parameters(n_contexts, stratify_by, per_stratum)
    if problems:
        raise DesignError(problems)
    if n_contexts is not None and n_contexts > len(ids):
        raise DesignError(
            [("n_contexts", f"{n_contexts} requested but only {len(ids)} contexts available")]
        )

    rng = random.Random(seed)
    if stratify_by is None:
        if n_contexts is None or n_contexts == len(ids):
            return ids
        return rng.sample(ids, n_contexts)

    strata: dict[Any, list[str]] = defaultdict(list)
    missing = [cid for cid, meta in keyed if stratify_by not in meta]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise DesignError(
            [("stratify_by", f"{stratify_by!r} is missing from the metadata of contexts {shown}")]
        )
    for cid, meta in keyed:
        value = meta[stratify_by]
        strata[value if isinstance(value, str | int | float | bool) else str(value)].append(cid)
    keys = sorted(strata, key=_stratum_sort_key)
    if per_stratum is None:
        if n_contexts is None:
            raise DesignError(
                [("per_stratum", "stratified sampling needs per_stratum or n_contexts")]
            )
        per_stratum = n_contexts // len(keys)
        if per_stratum == 0:
            raise DesignError(
                [
                    (
                        "n_contexts",
                        f"{n_contexts} is fewer than the {len(keys)} strata of {stratify_by!r}; "
                        f"sample at least {len(keys)} or set per_stratum",
                    )
                ]
            )
    small = [(k, len(strata[k])) for k in keys if len(strata[k]) < per_stratum]
    if small:
        shown = ", ".join(f"{k!r} has {n}" for k, n in small[:5])
        raise DesignError(
            [
                (
                    "per_stratum",
                    f"{per_stratum} per stratum needs at least {per_stratum} contexts in every "
                    f"stratum of {stratify_by!r}; {shown}",
                )
            ]
        )
    needed = per_stratum * len(keys)
    if n_contexts is not None and n_contexts < needed:
        raise DesignError(
            [
                (
                    "n_contexts",
                    f"{n_contexts} is fewer than per_stratum {per_stratum} x {len(keys)} strata "
                    f"= {needed}",
                )
            ]
        )
    chosen: list[str] = []
    for k in keys:
        chosen.extend(rng.sample(strata[k], per_stratum))
    if n_contexts is not None and n_contexts > needed:
        taken = set(chosen)
        rest = [cid for cid in ids if cid not in taken]
        chosen.extend(rng.sample(rest, n_contexts - needed))
    return chosen


# --------------------------------------------------------------------------- checks
# Each rule of a feasible design lives here once; the spec's validator calls these with
# its field names (``names``) and reports what they find at those fields.


def check_sampling_parameters(
    n_contexts: int | None,
    stratify_by: str | None,
    per_stratum: int | None,
    names: Names | None = None,
) -> Problems:
    """What makes sampling parameters wrong before any context is read."""
    p: Problems = []
    if n_contexts is not None and not _is_pos_int(n_contexts):
        p.append(("n_contexts", f"must be a positive integer, got {n_contexts!r}"))
    if per_stratum is not None and not _is_pos_int(per_stratum):
        p.append(("per_stratum", f"must be a positive integer, got {per_stratum!r}"))
    if per_stratum is not None and stratify_by is None:
        p.append(
            (
                "per_stratum",
                f"needs {name_of('stratify_by', names)} (the metadata field to stratify on)",
            )
        )
    return p


def check_blocks(batch_size: int, block_size: int, names: Names | None = None) -> Problems:
    """A batch is a whole number of blocks."""
    if batch_size % block_size:
        return [
            (
                "block_size",
                f"{block_size} does not divide {name_of('batch_size', names)} {batch_size}",
            )
        ]
    return []


def check_pairs(
    pairs: Sequence[Sequence[str]],
    systems: Sequence[str] | None = None,
    names: Names | None = None,
) -> Problems:
    """Each pair is two different systems (of ``systems``, when given), no pair twice in
    either order, and (when ``systems`` is given) every system is in some pair."""
    p: Problems = []
    if not pairs:
        return [("pairs", "at least one system pair is needed")]
    seen: dict[frozenset[str], int] = {}
    for i, pair in enumerate(pairs):
        where = f"pairs[{i}]"
        if len(pair) != 2 or pair[0] == pair[1]:
            p.append(
                (
                    where,
                    f"compares {pair[0]!r} with itself (pair {i} must be two different systems)"
                    if len(pair) == 2
                    else f"pair {i} must be two different systems, got {list(pair)!r}",
                )
            )
            continue
        unknown = [s for s in pair if systems is not None and s not in systems]
        if unknown:
            p.append(
                (
                    where,
                    f"unknown system {', '.join(map(repr, unknown))} "
                    f"(systems: {', '.join(systems or ())})",
                )
            )
            continue
        key = frozenset(pair)
        if key in seen:
            p.append(
                (
                    where,
                    f"repeats {name_of(f'pairs[{seen[key]}]', names)} (pair {i} {list(pair)!r} "
                    "is listed twice: order within a pair does not matter; left/right is "
                    "balanced by the design)",
                )
            )
            continue
        seen[key] = i
    if systems is not None and not p:
        used = {s for pair in pairs for s in pair}
        p += [
            (
                f"systems[{i}]",
                f"{s!r} is in no pair of {name_of('pairs', names)}, so it would never be shown",
            )
            for i, s in enumerate(systems)
            if s not in used
        ]
    return p


def _divisors(n: int) -> list[int]:
    return [d for d in range(2, n) if n % d == 0]


def _fill_message(n: int, unit: int, what: str) -> str:
    lo, hi = (n // unit) * unit, (n // unit + 1) * unit
    options = [str(x) for x in (lo, hi) if x > 0]
    divs = _divisors(n)
    text = (
        f"{n} contexts do not fill whole {what} of {unit}; sample {' or '.join(options)} contexts"
    )
    if divs:
        text += f", or use a batch_size that divides {n} ({', '.join(map(str, divs[:8]))})"
    return text


def _is_pos_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 1


def check_rating_parameters(
    n_contexts: int | None,
    systems: Sequence[str],
    batch_size: int,
    block_size: int | None,
    overlap: int,
    ordering: str,
    block_randomised_systems: Sequence[str] | None,
) -> Problems:
    """Everything that makes a rating design impossible, as (parameter, reason) pairs.

    ``n_contexts`` may be None (not known yet): the checks that need it are skipped.
    """
    if block_size is None:
        block_size = batch_size
    p = _check_rating_values(systems, batch_size, block_size, overlap, ordering)
    if p:
        return p
    p += check_blocks(batch_size, block_size)
    if p:
        return p
    blocks = batch_size // block_size
    brs = default_block_systems(systems, blocks, block_randomised_systems)
    p += _check_block_randomisation(systems, brs, batch_size, block_size)
    p += _check_block_orders(len(brs), overlap, ordering)
    if n_contexts is not None:
        p += _check_filled(n_contexts, batch_size)
    return p


def _check_rating_values(
    systems: Sequence[str], batch_size: int, block_size: int, overlap: int, ordering: str
) -> Problems:
    """Each parameter on its own: systems named once, positive sizes, a known ordering."""
    p: Problems = []
    if not systems:
        p.append(("systems", "at least one system is needed"))
    dup = sorted(s for s, n in Counter(systems).items() if n > 1)
    if dup:
        p.append(("systems", f"duplicate system names: {', '.join(dup)}"))
    for name, value in (("batch_size", batch_size), ("overlap", overlap)):
        if not _is_pos_int(value):
            p.append((name, f"must be a positive integer, got {value!r}"))
    if not _is_pos_int(block_size):
        p.append(("block_size", f"must be a positive integer, got {block_size!r}"))
    if ordering not in ORDERINGS:
        p.append(("ordering", f"{ordering!r} is not one of {', '.join(ORDERINGS)}"))
    return p


def _check_block_randomisation(
    systems: Sequence[str], brs: Sequence[str], batch_size: int, block_size: int
) -> Problems:
    """Block randomisation of known systems, at least 2 of them, over at least 2 blocks."""
    p: Problems = []
    m = len(brs)
    unknown = [s for s in brs if s not in systems]
    if unknown:
        p.append(("block_randomised_systems", f"unknown systems: {', '.join(unknown)}"))
    if len(set(brs)) != m:
        p.append(("block_randomised_systems", "lists a system twice"))
    if m == 1:
        p.append(
            (
                "block_randomised_systems",
                "block randomisation needs at least 2 systems (leave it empty for "
                "single-system batches only)",
            )
        )
    if m >= 2 and batch_size // block_size == 1:
        p.append(
            (
                "block_randomised_systems",
                f"needs at least 2 blocks per batch, but block_size {block_size} equals "
                f"batch_size {batch_size}; use a block_size that divides {batch_size} "
                f"({', '.join(map(str, _divisors(batch_size))) or 'none'}) or leave it empty",
            )
        )
    return p


def _check_block_orders(m: int, overlap: int, ordering: str) -> Problems:
    """all_permutations of ``m`` block-randomised systems: few enough orders, and one full
    set of them gives no output more judgments than ``overlap``."""
    if m < 2 or ordering != "all_permutations":
        return []
    per_set = math.factorial(m - 1)
    if m > MAX_PERMUTED_SYSTEMS:
        return [
            (
                "ordering",
                f"all_permutations of {m} systems is {math.factorial(m)} block orders; "
                "use latin_square or random",
            )
        ]
    if overlap < per_set:
        return [
            (
                "overlap",
                f"with ordering all_permutations, one full set of the {m}! = "
                f"{math.factorial(m)} block orders gives every output ({m}-1)! = {per_set} "
                f"judgments, more than overlap {overlap}; use overlap >= {per_set} or "
                "ordering latin_square or random",
            )
        ]
    return []


def _check_filled(n_contexts: int, batch_size: int) -> Problems:
    """The contexts fill whole batches."""
    if n_contexts < 1:
        return [("context_ids", "no contexts to design batches for")]
    if n_contexts % batch_size:
        return [("context_ids", _fill_message(n_contexts, batch_size, "batches"))]
    return []


def check_pairwise_parameters(
    n_contexts: int | None,
    pairs: Sequence[Sequence[str]],
    batch_size: int,
    overlap: int,
    repeat_context_in_batch: bool,
) -> list[tuple[str, str]]:
    p: list[tuple[str, str]] = []
    for name, value in (("batch_size", batch_size), ("overlap", overlap)):
        if not _is_pos_int(value):
            p.append((name, f"must be a positive integer, got {value!r}"))
    p += check_pairs(pairs)
    if p or n_contexts is None:
        return p
    n_pairs = len(pairs)
    if n_contexts < 1:
        p.append(("context_ids", "no contexts to design batches for"))
    elif n_contexts % batch_size:
        if not repeat_context_in_batch:
            msg = _fill_message(n_contexts, batch_size, "batches")
            if n_pairs > 1 and (n_contexts * n_pairs) % batch_size == 0:
                msg += " (or set repeat_context_in_batch: true)"
            p.append(("context_ids", msg))
        elif (n_contexts * n_pairs) % batch_size:
            p.append(
                (
                    "context_ids",
                    f"{n_contexts} contexts x {n_pairs} pairs = {n_contexts * n_pairs} "
                    f"comparisons do not fill whole batches of {batch_size}; choose "
                    "n_contexts or batch_size so that batch_size divides their product",
                )
            )
    return p


def default_block_systems(
    systems: Sequence[str], blocks: int, brs: Sequence[str] | None
) -> tuple[str, ...]:
    """The block-randomised systems: as given, else every system once a batch has more
    than one block (and there is more than one system), else none."""
    if brs is None:
        return tuple(systems) if blocks > 1 and len(systems) > 1 else ()
    return tuple(brs)


# --------------------------------------------------------------------------- rating


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
    return Design(batches=batches, report=_report(batches, params))


# --------------------------------------------------------------------------- pairwise


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
    return Design(batches=batches, report=_report(batches, params))


# --------------------------------------------------------------------------- attention checks

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


# --------------------------------------------------------------------------- report


def output_counts(
    design: Design | Iterable[DesignedBatch],
) -> dict[tuple[str, tuple[str, ...]], int]:
    """Judgments per output: {(context_id, systems): n}, counting each batch ``slots`` times.

    For pairwise designs the key is (context_id, pair as designed), whichever side is left.
    Attention-check items are not outputs and are not counted.
    """
    batches = design.batches if isinstance(design, Design) else design
    counts: Counter = Counter()
    for batch in batches:
        for it in batch.items:
            if it.attention_check is not None:
                continue
            key = tuple(sorted(it.systems)) if batch.kind == PAIRWISE else it.systems
            counts[(it.context_id, key)] += batch.slots
    return dict(counts)


def _pair_key(a: str, b: str, pairs: Sequence[Sequence[str]]) -> tuple[str, str]:
    for pair in pairs:
        if {a, b} == set(pair):
            return (pair[0], pair[1])
    return (a, b)


def _report(batches: tuple[DesignedBatch, ...], params: dict[str, Any]) -> dict[str, Any]:
    pairwise = params["protocol"] == "pairwise"
    batch_size = params["batch_size"]
    systems = params["systems"]
    report: dict[str, Any] = dict(params)
    report["n_batches"] = len(batches)
    report["n_slots"] = sum(b.slots for b in batches)
    report["n_judgments"] = sum(b.slots * len(b.items) for b in batches)

    by_kind: dict[str, dict[str, int]] = {}
    for b in batches:
        entry = by_kind.setdefault(b.kind, {"batches": 0, "slots": 0})
        entry["batches"] += 1
        entry["slots"] += b.slots
    report["batches_by_kind"] = by_kind

    counts = output_counts(batches)
    histogram = Counter(counts.values())
    report["n_outputs"] = len(counts)
    report["judgments_per_output"] = {str(k): histogram[k] for k in sorted(histogram)}

    per_system: Counter = Counter()
    system_position = {s: [0] * batch_size for s in systems}
    max_repeat = 0
    for b in batches:
        max_repeat = max(max_repeat, max(Counter(it.context_id for it in b.items).values()))
        for it in b.items:
            for s in it.systems:
                per_system[s] += b.slots
                system_position[s][it.position] += b.slots
    report["judgments_per_system"] = {s: per_system[s] for s in systems}
    report["system_position"] = system_position
    report["max_context_repeats_in_batch"] = max_repeat

    balanced: dict[str, bool | None] = {
        "outputs": set(counts.values()) == {params["overlap"]},
        "positions": None,
        "block_orders": None,
        "sides": None,
    }
    if not pairwise:
        blocks = params["blocks_per_batch"]
        block_position = {s: [0] * blocks for s in systems}
        orders: Counter = Counter()
        for b in batches:
            for j, s in enumerate(b.ordering):
                block_position[s][j] += b.slots
            if b.kind == BLOCK_RANDOMISED:
                orders[" > ".join(b.ordering)] += b.slots
        report["system_block_position"] = block_position
        report["block_orders"] = dict(sorted(orders.items()))
        # Every system is judged equally often at each position (its own count per system).
        balanced["positions"] = all(len(set(v)) == 1 for v in system_position.values())
        if orders:
            balanced["block_orders"] = (
                len(set(orders.values())) == 1
                if params["ordering"] == "all_permutations"
                else all(
                    len({block_position[s][j] for j in range(blocks)}) == 1
                    for s in params["block_randomised_systems"]
                )
            )
    else:
        pairs = params["pairs"]
        pair_names = {tuple(p): f"{p[0]} vs {p[1]}" for p in pairs}
        sides = {pair_names[tuple(p)]: {p[0]: 0, p[1]: 0} for p in pairs}
        pair_position = {pair_names[tuple(p)]: [0] * batch_size for p in pairs}
        for b in batches:
            for it in b.items:
                left, right = it.systems
                name = pair_names[_pair_key(left, right, pairs)]
                sides[name][left] += b.slots
                pair_position[name][it.position] += b.slots
        report["pair_sides"] = sides
        report["pair_position"] = pair_position
        balanced["sides"] = all(
            abs(a - b) <= 1 and ((a + b) % 2 == 1 or a == b)
            for a, b in (tuple(v.values()) for v in sides.values())
        )
        balanced["positions"] = all(len(set(v)) == 1 for v in pair_position.values())
    report["balanced"] = balanced
    return report


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> list[str]:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    out = []
    for r, row in enumerate(cells):
        parts = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append(indent + "  ".join(parts).rstrip())
        if r == 0:
            out.append(indent + "  ".join("-" * w for w in widths))
    return out


def _positions_table(title: str, data: Mapping[str, Sequence[int]], label: str) -> list[str]:
    width = max((len(v) for v in data.values()), default=0)
    if width > 20:  # long batches: show the spread instead of every position
        rows = [[k, min(v), max(v), sum(v)] for k, v in data.items()]
        return [title + " (min / max / total over positions)"] + _table(
            ["", "min", "max", "total"], rows
        )
    header = [""] + [f"{label}{i + 1}" for i in range(width)]
    return [title] + _table(header, [[k, *v] for k, v in data.items()])


def design_report_text(report: Mapping[str, Any]) -> str:
    """A readable summary of ``Design.report`` (printed by the create_study command)."""
    r = report
    ok = {True: "yes", False: "NO", None: "n/a"}
    lines: list[str] = []
    if r["protocol"] == "rating":
        lines.append(
            f"Rating design: {r['n_contexts']} contexts x {len(r['systems'])} systems, "
            f"batches of {r['batch_size']} ({r['blocks_per_batch']} blocks of "
            f"{r['block_size']}), overlap {r['overlap']}, ordering {r['ordering']}, seed {r['seed']}"
        )
        if r["block_randomised_systems"]:
            lines.append("Block-randomised systems: " + ", ".join(r["block_randomised_systems"]))
    else:
        pairs = ", ".join(f"{a} vs {b}" for a, b in r["pairs"])
        lines.append(
            f"Pairwise design: {r['n_contexts']} contexts, pairs {pairs}, batches of "
            f"{r['batch_size']}, overlap {r['overlap']}, seed {r['seed']}"
        )
    lines.append(
        f"Batches: {r['n_batches']} distinct, {r['n_slots']} annotator slots, "
        f"{r['n_judgments']} judgments"
    )
    lines += _table(
        ["kind", "batches", "slots"],
        [[k, v["batches"], v["slots"]] for k, v in r["batches_by_kind"].items()],
    )
    hist = ", ".join(f"{n} outputs x {k}" for k, n in r["judgments_per_output"].items())
    lines.append(
        f"Judgments per output: {hist}  (all equal overlap {r['overlap']}: "
        f"{ok[r['balanced']['outputs']]})"
    )
    lines.append(
        "Judgments per system: "
        + ", ".join(f"{s} {n}" for s, n in r["judgments_per_system"].items())
    )
    lines.append(f"Most times one context appears in a batch: {r['max_context_repeats_in_batch']}")
    if r["protocol"] == "rating":
        lines += _positions_table("System x block position:", r["system_block_position"], "b")
        lines += _positions_table("System x position in batch:", r["system_position"], "p")
        if r["block_orders"]:
            lines.append("Block orders (annotator slots):")
            lines += _table(["order", "slots"], list(r["block_orders"].items()))
        lines.append(
            f"Balanced: positions {ok[r['balanced']['positions']]}, "
            f"block orders {ok[r['balanced']['block_orders']]}"
        )
    else:
        lines.append("Pair sides (times each system was shown on the left):")
        lines += _table(
            ["pair", "first left", "second left"],
            [[k, *v.values()] for k, v in r["pair_sides"].items()],
        )
        lines += _positions_table("Pair x position in batch:", r["pair_position"], "p")
        lines.append(
            f"Balanced: sides {ok[r['balanced']['sides']]}, "
            f"positions {ok[r['balanced']['positions']]}"
        )
    lines += _attention_text(r.get("attention"))
    return "\n".join(lines)


def _attention_text(a: Mapping[str, Any] | None) -> list[str]:
    if not a or not a.get("per_batch"):
        return []
    lines = [
        f"Attention checks: {a['per_batch']} per batch at seeded positions (never first), "
        f"{a['n_judgments']} attention judgments; positions above count real items only"
    ]
    rows = [[c, a["uses"][c], a["batches_per_check"][c]] for c in a["checks"]]
    header = ["check", "slots", "batches"]
    if "response_a_left" in a:
        header.append("A left / right")
        for row in rows:
            sides = a["response_a_left"][row[0]]
            row.append(f"{sides['left']} / {sides['right']}")
    return lines + _table(header, rows)
