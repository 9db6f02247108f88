"""The quality-control part of the study analysis: how many annotators passed each rule of
the decision (attention checks, the degraded-control test, gold items, time, the
qualification), and what leaving out those the decision did not approve changes. Pure.

The decisions themselves are made in ``annotation.decisions`` (read for a study by
``analysis.quality_control_decisions``); here they are plain data keyed by the annotator
as the judgments frame names them::

    {"a-1f3c...": {"outcome": "approve" | "review" | "reject",
                   "rules": {"attention": True | False | None, "degraded": ..., ...}}}

``None`` for a rule: no evidence for it (no copies rated, no gold items...).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from . import formatting as fmt
from .quality import exclusion_rows
from .tables import markdown_escape

__all__ = [
    "OUTCOMES",
    "RULE_LABELS",
    "markdown_lines",
    "quality_control_section",
    "rule_counts",
]

OUTCOMES = ("approve", "review", "reject")
RULE_LABELS = {
    "attention": "Attention checks",
    "degraded": "Degraded-control test",
    "gold": "Gold items",
    "time": "Minimum time",
    "qualification": "Qualification",
}

Decisions = Mapping[str, Mapping[str, Any]]
Run = Callable[[pd.DataFrame, bool], dict[str, Any]]


def rule_counts(decisions: Decisions, annotators: Iterable[str]) -> list[dict[str, Any]]:
    """Per rule with any evidence: annotators tested, passed, failed (among ``annotators``:
    those with judgments in the analysis)."""
    rows = []
    present = [str(a) for a in annotators if str(a) in decisions]
    for rule, label in RULE_LABELS.items():
        results = [decisions[a].get("rules", {}).get(rule) for a in present]
        tested = [r for r in results if r is not None]
        if not tested:
            continue
        passed = sum(1 for r in tested if r)
        rows.append(
            {
                "rule": rule,
                "label": label,
                "n_tested": len(tested),
                "n_passed": passed,
                "n_failed": len(tested) - passed,
            }
        )
    return rows


def quality_control_section(
    decisions: Decisions | None,
    protocol: str,
    frame: pd.DataFrame,
    main: dict[str, Any],
    run: Run,
) -> dict[str, Any] | None:
    """The section the report shows (None without decisions): outcome and rule counts over
    the annotators of ``frame`` (the analysed judgments), the annotators not approved, and
    the rows of the main comparison that change when they are left out (``with_all`` the
    main analysis, ``without_excluded`` a run without them; resampling off, so p-values
    from resampling are not compared)."""
    if decisions is None:
        return None
    annotators = sorted(str(a) for a in frame["annotator"].unique())
    known = [a for a in annotators if a in decisions]
    outcomes = {o: sum(1 for a in known if decisions[a].get("outcome") == o) for o in OUTCOMES}
    failed = [a for a in known if decisions[a].get("outcome") != "approve"]
    section: dict[str, Any] = {
        "n_annotators": len(annotators),
        "n_decided": len(known),
        "outcomes": outcomes,
        "rules": rule_counts(decisions, annotators),
        "not_approved": failed,
        "changed": [],
        "all_left_out": False,
    }
    if not failed:
        return section
    rest = frame.loc[~frame["annotator"].astype(str).isin(failed)].reset_index(drop=True)
    if rest.empty:
        section["all_left_out"] = True
        return section
    rows = exclusion_rows(protocol, main, run(rest, False), len(failed))
    section["changed"] = [_plain(r) for r in rows if _changed(r)]
    return section


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """NaN as None, so the section is valid JSON in analysis.json."""
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}


def _changed(row: Mapping[str, Any]) -> bool:
    a, b = row["with_all"], row["without_excluded"]
    if math.isnan(a) and math.isnan(b):
        return False
    return math.isnan(a) or math.isnan(b) or row["change"] != 0.0


# quantities that are p-values (printed "<0.001"); the rest to 3 decimals
_P_QUANTITIES = {"p_value", "p_holm", "p_sign", "p_sign_holm"}


def _number(quantity: str, value: Any) -> str:
    if value is None:
        return "—"
    text = fmt.p_value(value) if quantity in _P_QUANTITIES else fmt.fixed(value, 3)
    return text or "—"


def markdown_lines(section: Mapping[str, Any] | None) -> list[str]:
    """The report's "Quality control" section (nothing without decisions)."""
    if section is None:
        return []
    o = section["outcomes"]
    lines = [
        "## Quality control",
        "",
        f"Decisions for {section['n_decided']} of "
        f"{fmt.plural(section['n_annotators'], 'annotator')} analysed: "
        f"{o['approve']} approved, {o['review']} to review, {o['reject']} rejected "
        "(`annotation.decisions`, the spec's rules).",
        "",
    ]
    if section["rules"]:
        lines += ["| Rule | Tested | Passed | Failed |", "|---|---:|---:|---:|"]
        for r in section["rules"]:
            lines.append(f"| {r['label']} | {r['n_tested']} | {r['n_passed']} | {r['n_failed']} |")
        lines.append("")
    failed = section["not_approved"]
    if not failed:
        lines += ["Every annotator was approved, so leaving out the others changes nothing.", ""]
        return lines
    who = ", ".join(markdown_escape(a) for a in failed)
    if section["all_left_out"]:
        lines += [f"No annotator was approved ({who}); there is nothing to compare.", ""]
        return lines
    changed = section["changed"]
    lines += [
        f"Leaving out the {fmt.plural(len(failed), 'annotator')} not approved ({who}) "
        + (
            f"changes {fmt.plural(len(changed), 'row')} of the main comparison "
            "(raw scores; resampling off in the second run):"
            if changed
            else "changes no row of the main comparison."
        ),
        "",
    ]
    if changed:
        lines += [
            "| Dimension | System A | System B | Quantity | All annotators | Approved only "
            "| Change |",
            "|---|---|---|---|---:|---:|---:|",
        ]
        for r in changed:
            q = r["quantity"]
            change = "—" if r["change"] is None else fmt.fixed(r["change"], 3)
            lines.append(
                f"| {markdown_escape(str(r['dimension']))} | {markdown_escape(str(r['system_a']))} "
                f"| {markdown_escape(str(r['system_b']))} | {q} | {_number(q, r['with_all'])} "
                f"| {_number(q, r['without_excluded'])} | {change} |"
            )
        lines.append("")
    return lines
