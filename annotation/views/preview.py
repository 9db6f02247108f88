"""The item page as an annotator will see it, for the researcher who is preparing a study.

The page is the annotator's own (``annotation/item.html``, with the same context the item
view gives it), drawn from the study's first designed batch. Nothing is written: no
participant, lease or judgment; the page that wraps it says it is a preview and keeps its
form from posting (the console's ``editor_item_preview.html``). Who may look is the
console's question (``console.access``), asked before this is called.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from ..models import BatchEntry, Study
from . import presentation
from .forms import JudgmentForm


def first_batch_entries(study: Study) -> list[BatchEntry]:
    """The entries of the study's first batch, in the order an annotator meets them."""
    first = study.batches.order_by("index").values("id")[:1]
    return list(
        BatchEntry.objects.filter(batch_id__in=Subquery(first))
        .select_related("item__context", "item__candidate", "item__candidate_b")
        .order_by("position")
    )


def item_page_context(study: Study, entry: BatchEntry, total: int) -> dict[str, Any]:
    """What ``annotation/item.html`` is given for ``entry``, with an empty form."""
    context = presentation.item_context(
        study, entry, total, JudgmentForm(study.dimensions).rows(), idempotency_key="preview"
    )
    return {
        "study": study,
        "spec": study.spec,
        "wording": presentation.wording(study.spec),
        **context,
    }


def render_item_preview(
    request: HttpRequest, study: Study, position: int, template: str, extra: dict | None = None
) -> HttpResponse:
    """Item ``position`` (1-based) of the first batch drawn with ``template`` (one that
    extends ``annotation/item.html``); 404 when the study has no such item."""
    entries = first_batch_entries(study)
    if not 1 <= position <= len(entries):
        raise Http404(f"the first batch has no item {position}")
    context = item_page_context(study, entries[position - 1], len(entries))
    context.update(
        {
            "preview_position": position,
            "preview_total": len(entries),
            "attention_check": entries[position - 1].item.is_attention_check,
        }
    )
    context.update(extra or {})
    return render(request, template, context)
