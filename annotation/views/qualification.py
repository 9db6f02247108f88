"""The qualification pages (annotation/qualification.py): one gold item at a time, drawn
with the item page's template, feedback after each answer, and the screened-out page.

``hold`` is what the item view asks before it leases a batch: None lets it go on; else
the page to show (the qualification, or the screened-out page). It costs no query for a
study without a qualification, and is asked only when the participant holds no batch, so
the judgment submit path never reaches it.
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .. import qualification
from ..completion import completion_for
from ..models import Participant, QualificationAnswer, Study
from ..selectors import has_completed_batch
from . import mturk as mturk_views
from . import presentation, steps
from .forms import JudgmentForm

INTRO = (
    "Before the study: a short qualification with items whose answers are known. "
    "After each answer you will see whether it was the expected one."
)


def hold(request: HttpRequest, participant: Participant) -> HttpResponse | None:
    """The qualification page (or the screened-out page) instead of a new batch, or None."""
    study = participant.study
    if not qualification.required(study.spec):
        return None
    passed = qualification.status(participant).passed
    if passed:
        return None
    return redirect(reverse("annotation:qualification", args=[study.name]))


def screened_out(participant: Participant) -> bool:
    """Did the participant fail the qualification? (No query without one.)"""
    if not qualification.required(participant.study.spec):
        return False
    return qualification.status(participant).passed is False


def _page(request, participant, template, context, status=200) -> HttpResponse:
    study = participant.study
    base = {"study": study, "spec": study.spec, "wording": presentation.wording(study.spec)}
    return render(request, f"annotation/{template}", {**base, **context}, status=status)


def _gold_page(request, participant, st, form, errors=(), status=200) -> HttpResponse:
    spec = participant.study.spec
    position, gold = qualification.next_gold(spec, st.answered)
    turns = gold.get("context") or []
    if gold.get("response_a") is not None:
        item = {
            "candidate": {"text": gold["response_a"]},
            "candidate_b": {"text": gold["response_b"]},
        }
    else:
        item = {"candidate": {"text": gold["response"]}}
    context = {
        "entry": {"id": gold["id"]},
        **presentation.dialogue_context(participant.study, item, turns),
        **presentation.progress(position, st.total, qualification=True),
        "dimensions": form.rows(),
        "errors": list(errors),
        "notice": (INTRO if position == 0 else f"Qualification item {position + 1} of {st.total}.")
        if not errors
        else "",
        "idempotency_key": uuid.uuid4().hex,
        "pairwise": gold.get("response_a") is not None,  # the gold item's own form
        "qualification": True,
    }
    return _page(request, participant, "item.html", context, status=status)


def _registered(request: HttpRequest, study_name: str):
    participant, bounce = steps.registered(request, study_name)
    if bounce:
        return None, bounce
    step = steps.next_step(participant.study, participant, None)
    if step != "item":
        return None, steps.go(study_name, step)
    return participant, None


@never_cache
@require_http_methods(["GET", "POST"])
def page(request: HttpRequest, study_name: str) -> HttpResponse:
    participant, bounce = _registered(request, study_name)
    if bounce:
        return bounce
    study = participant.study
    item_url = reverse("annotation:item", args=[study.name])
    if (
        study.status != Study.Status.OPEN  # the item page says why there is no work
        or not qualification.required(study.spec)
        or has_completed_batch(participant)
    ):
        return redirect(item_url)
    st = qualification.status(participant)
    answered = request.GET.get("answered", "")
    if request.method == "GET" and answered and qualification.gold_items(study.spec):
        return _feedback(request, participant, st, answered)
    if st.passed is not None:
        return redirect(item_url) if st.passed else _screened_out(request, participant)
    form = JudgmentForm(study.dimensions, request.POST if request.method == "POST" else None)
    if request.method == "GET":
        return _gold_page(request, participant, st, form)
    values, rationales = form.answers()
    gold_id = request.POST.get("entry_id", "")
    done = qualification.record_answer(participant, gold_id, values, rationales, timezone.now())
    if done.problems:
        return _gold_page(request, participant, st, form, done.problems, status=400)
    here = reverse("annotation:qualification", args=[study.name])
    gold = (study.spec.get("quality_control") or {}).get("gold") or {}
    if gold.get("feedback", True):
        return redirect(f"{here}?answered={gold_id}")
    return redirect(here)


def _feedback(request, participant, st, gold_id) -> HttpResponse:
    spec = participant.study.spec
    gold = next((g for g in qualification.gold_items(spec) if g["id"] == gold_id), None)
    answer = QualificationAnswer.objects.filter(participant=participant, gold_id=gold_id).first()
    if gold is None or answer is None:
        return redirect(reverse("annotation:qualification", args=[participant.study.name]))
    return _page(
        request,
        participant,
        "qualification_feedback.html",
        {
            "correct": answer.correct,
            "expected": qualification.expected_answers(spec, gold),
            "given": qualification.given_answers(
                spec, {k: v for k, v in answer.values.items() if k in gold["expect"]}
            ),
            "position": st.answered.index(gold_id) + 1 if gold_id in st.answered else 0,
            "total": st.total,
            "last": st.finished,
        },
    )


def _screened_out(request, participant) -> HttpResponse:
    code, redirect_url = completion_for(participant, "screened_out")
    st = qualification.status(participant)
    return _page(
        request,
        participant,
        "screened_out.html",
        {
            "code": code,
            "redirect_url": redirect_url,
            "redirect_seconds": steps.REDIRECT_SECONDS,
            "correct": st.correct,
            "total": st.total,
            # An MTurk worker submits the HIT here too (what it pays is the requester's call).
            **mturk_views.submit_context(request, participant),
        },
    )
