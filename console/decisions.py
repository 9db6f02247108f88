"""The study's Decisions page in the console: one quality-control decision per annotator
(annotation.quality_control), and its CSV; with the items each annotator skipped as
distressing (annotation/safety.py; not judgments, so no rule reads them), and the skips as
their own CSV (``annotation.export.skip_rows``). Viewers may see it, like the other study
pages."""

from __future__ import annotations

import csv
import io

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotation.decisions import decide
from annotation.export import skip_rows, write_skip_rows
from annotation.models import ItemSkip, Participant
from annotation.quality_control import evidence_for_study, rules_for
from core.csv_cells import escape_formula

from .access import study_for

COLUMNS = (
    "annotator",
    "outcome",
    "reasons",
    "reject_reason",
    "items_judged",
    "attention_failed",
    "attention_total",
    "gold_correct",
    "gold_total",
    "items_skipped",
    "median_item_seconds",
)


def decision_rows(study) -> list[dict]:
    """One row per annotator: the decision and the evidence figures behind it."""
    names = dict(Participant.objects.filter(study=study).values_list("id", "external_id"))
    rules = rules_for(study.spec)
    skipped = dict(
        ItemSkip.objects.filter(study=study)
        .values_list("participant_id")
        .annotate(n=Count("id"))
        .values_list("participant_id", "n")
    )
    rows = []
    for pid, evidence in sorted(evidence_for_study(study).items()):
        decision = decide(evidence, rules)
        times = sorted(evidence.item_seconds)
        rows.append(
            {
                "annotator": names.get(pid, str(pid)),
                "outcome": decision.outcome,
                "reasons": "; ".join(decision.reasons),
                "reject_reason": decision.reject_reason,
                "items_judged": evidence.items_judged,
                "attention_failed": evidence.attention_failed,
                "attention_total": evidence.attention_total,
                "gold_correct": evidence.gold_correct,
                "gold_total": evidence.gold_total,
                "items_skipped": skipped.get(pid, 0),
                "median_item_seconds": round(times[len(times) // 2], 1) if times else "",
            }
        )
    return rows


@login_required
@require_GET
def decisions_page(request: HttpRequest, study_name: str) -> HttpResponse:
    study = study_for(request, study_name, "view")
    if request.GET.get("format") == "skips":
        # platform ids, as on this page (the researcher pays and reviews by them)
        out = io.StringIO()
        write_skip_rows(skip_rows(study, pseudonymise=False), out)
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{study.name}-skips.csv"'
        return response
    rows = decision_rows(study)
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{study.name}-decisions.csv"'
        writer = csv.writer(response)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([escape_formula(str(row[c])) for c in COLUMNS])
        return response
    counts = {o: sum(r["outcome"] == o for r in rows) for o in ("approve", "review", "reject")}
    counts["skipped"] = sum(r["items_skipped"] for r in rows)
    return render(
        request,
        "console/decisions.html",
        {"study": study, "rows": rows, "columns": COLUMNS, "counts": counts},
    )
