"""The design's balance report (``Design.report``, annotation/design/report.py) as tables
for a page: the same figures ``design_report_text`` prints, each table with its title,
column headers and rows (pure: plain data in and out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

YES_NO = {True: "yes", False: "no", None: "n/a"}
# Long batches: the spread over positions instead of a column per position (as the text).
MAX_POSITION_COLUMNS = 20


def _table(table_id: str, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]):
    return {
        "id": table_id,
        "title": title,
        "columns": list(columns),
        "rows": [[str(c) for c in row] for row in rows],
    }


def _in_order(data: Mapping[str, Any], order: Sequence[str]) -> list[tuple[str, Any]]:
    """The items of ``data`` in the spec's order (a report read back from PostgreSQL's
    jsonb has its keys in jsonb's own order), any others after."""
    known = [k for k in order if k in data]
    return [(k, data[k]) for k in known] + [(k, v) for k, v in data.items() if k not in known]


def _positions(table_id: str, title: str, data: Sequence[tuple[str, Sequence[int]]], label: str):
    width = max((len(v) for _, v in data), default=0)
    if width > MAX_POSITION_COLUMNS:
        rows = [[k, min(v), max(v), sum(v)] for k, v in data]
        return _table(table_id, f"{title} (over positions)", ["", "min", "max", "total"], rows)
    columns = [""] + [f"{label}{i + 1}" for i in range(width)]
    return _table(table_id, title, columns, [[k, *v] for k, v in data])


def summary(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(what, value) rows: the design's parameters and sizes."""
    r = report
    rows = [("Protocol", r["protocol"]), ("Contexts", str(r["n_contexts"]))]
    if r["protocol"] == "rating":
        rows += [
            ("Systems", ", ".join(r["systems"])),
            (
                "Batch size",
                f"{r['batch_size']} ({r['blocks_per_batch']} blocks of {r['block_size']})",
            ),
            ("Ordering", r["ordering"]),
        ]
        if r.get("block_randomised_systems"):
            rows.append(("Block-randomised systems", ", ".join(r["block_randomised_systems"])))
    else:
        rows += [
            ("Pairs", ", ".join(f"{a} vs {b}" for a, b in r["pairs"])),
            ("Batch size", str(r["batch_size"])),
        ]
    rows += [
        ("Overlap (judgments per output)", str(r["overlap"])),
        ("Seed", str(r["seed"])),
        ("Distinct batches", str(r["n_batches"])),
        ("Annotator slots", str(r["n_slots"])),
        ("Judgments", str(r["n_judgments"])),
        ("Most times one context appears in a batch", str(r["max_context_repeats_in_batch"])),
    ]
    return rows


def balance(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(what is balanced, yes / no / n/a)."""
    b = report["balanced"]
    rows = [(f"Every output judged {report['overlap']} times", YES_NO[b["outputs"]])]
    rows.append(("Positions in the batch", YES_NO[b["positions"]]))
    if report["protocol"] == "rating":
        rows.append(("Block orders", YES_NO[b["block_orders"]]))
    else:
        rows.append(("Sides (left / right)", YES_NO[b["sides"]]))
    return rows


def tables(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every table of the report, in the order the text report prints them."""
    r = report
    systems = r["systems"]
    pairs = [f"{a} vs {b}" for a, b in r.get("pairs") or ()]
    per_output = sorted(r["judgments_per_output"].items(), key=lambda kv: int(kv[0]))
    out = [
        _table(
            "design-batches",
            "Batches by kind",
            ["kind", "batches", "slots"],
            [[k, v["batches"], v["slots"]] for k, v in r["batches_by_kind"].items()],
        ),
        _table(
            "design-per-output",
            "Judgments per output",
            ["judgments", "outputs"],
            per_output,
        ),
        _table(
            "design-per-system",
            "Judgments per system",
            ["system", "judgments"],
            _in_order(r["judgments_per_system"], systems),
        ),
    ]
    if r["protocol"] == "rating":
        out.append(
            _positions(
                "design-block-position",
                "System × block position",
                _in_order(r["system_block_position"], systems),
                "b",
            )
        )
        out.append(
            _positions(
                "design-position",
                "System × position in batch",
                _in_order(r["system_position"], systems),
                "p",
            )
        )
        if r.get("block_orders"):
            out.append(
                _table(
                    "design-block-orders",
                    "Block orders (annotator slots)",
                    ["order", "slots"],
                    sorted(r["block_orders"].items()),
                )
            )
    else:
        # first left / second left: the pair's systems in the spec's order
        by_name = {f"{a} vs {b}": (a, b) for a, b in r["pairs"]}
        sides = [
            [name, *(counts[s] for s in by_name.get(name, tuple(counts)))]
            for name, counts in _in_order(r["pair_sides"], pairs)
        ]
        out.append(
            _table(
                "design-sides",
                "Pair sides (times each system is shown on the left)",
                ["pair", "first left", "second left"],
                sides,
            )
        )
        out.append(
            _positions(
                "design-position",
                "Pair × position in batch",
                _in_order(r["pair_position"], pairs),
                "p",
            )
        )
    attention = r.get("attention")
    if attention and attention.get("per_batch"):
        out.append(_attention(attention))
    return out


def _attention(a: Mapping[str, Any]) -> dict[str, Any]:
    columns = ["check", "slots", "batches"]
    rows: list[list[Any]] = [[c, a["uses"][c], a["batches_per_check"][c]] for c in a["checks"]]
    if "response_a_left" in a:
        columns.append("A left / right")
        for row in rows:
            sides = a["response_a_left"][row[0]]
            row.append(f"{sides['left']} / {sides['right']}")
    title = (
        f"Attention checks ({a['per_batch']} per batch at seeded positions, never first; "
        f"{a['n_judgments']} attention judgments)"
    )
    return _table("design-attention", title, columns, rows)


def design_view(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Everything a page shows of a design report, or None without one."""
    if not report:
        return None
    return {"summary": summary(report), "balance": balance(report), "tables": tables(report)}
