"""Designed items, batches and designs; the error and the names of design parameters.

Part of the batch designer (see ``annotation/design/__init__.py`` and ``annotation/design.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

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
    # Degraded copies (``insert_degraded_copies``): the degradation, else None. The copy
    # keeps its original's ``context_id``; rating: ``systems`` is the original's; pairwise:
    # the original's system and ``DEGRADED_SIDE`` in screen order.
    degradation: str | None = None
    # Gold items in batches (``insert_gold_items``): the gold item's id, else None; like
    # an attention item, ``context_id`` is the id and ``systems`` its responses on screen.
    gold: str | None = None

    @property
    def is_control(self) -> bool:
        return (
            self.attention_check is not None
            or self.degradation is not None
            or self.gold is not None
        )


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
    if it.degradation is not None:
        d["degradation"] = it.degradation
    if it.gold is not None:
        d["gold"] = it.gold
    return d


@dataclass(frozen=True)
class Design:
    batches: tuple[DesignedBatch, ...]
    report: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"batches": [b.to_dict() for b in self.batches], "report": self.report}
