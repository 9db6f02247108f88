"""The design report: counts per system x position and per ordering, as data and as text.

Part of the batch designer (see ``annotation/design/__init__.py`` and ``annotation/design.md``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .types import BLOCK_RANDOMISED, PAIRWISE, Design, DesignedBatch


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
            if it.is_control:  # attention checks, gold items, degraded copies: not outputs
                continue
            key = tuple(sorted(it.systems)) if batch.kind == PAIRWISE else it.systems
            counts[(it.context_id, key)] += batch.slots
    return dict(counts)


def _pair_key(a: str, b: str, pairs: Sequence[Sequence[str]]) -> tuple[str, str]:
    for pair in pairs:
        if {a, b} == set(pair):
            return (pair[0], pair[1])
    return (a, b)


def build_report(batches: tuple[DesignedBatch, ...], params: dict[str, Any]) -> dict[str, Any]:
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
    lines += _degraded_text(r.get("degraded"))
    lines += _gold_text(r.get("gold"))
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


def _degraded_text(d: Mapping[str, Any] | None) -> list[str]:
    if not d:
        return []
    return [
        f"Degraded controls: {d['n_items']} copies ({d['share']:.0%} of each batch's real items; "
        f"{', '.join(d['kinds'])}), {d['n_judgments']} control judgments; "
        "never counted as outputs or in any statistic"
    ]


def _gold_text(g: Mapping[str, Any] | None) -> list[str]:
    if not g:
        return []
    return [
        f"Gold items: {len(g['items'])} in every batch at seeded positions (never first), "
        f"{g['n_judgments']} gold judgments; never counted as outputs or in any statistic"
    ]
