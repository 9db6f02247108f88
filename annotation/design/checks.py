"""Design feasibility, checked in one place: the spec's validators call these checks.

Part of the batch designer (see ``annotation/design/__init__.py`` and ``annotation/design.md``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .types import MAX_PERMUTED_SYSTEMS, ORDERINGS, Names, Problems, name_of

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
