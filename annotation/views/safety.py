"""Annotator safety pages (annotation/safety.py): skip a distressing item, pause and come
back, the break reminder and the daily cap.

``hold`` is asked before an item page is shown (GET); it costs no query for a study with
neither a break reminder nor a daily cap.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .. import safety
from ..models import Participant, SafetyEvent
from . import presentation, steps


def _page(request, participant, template, context=None, status=200) -> HttpResponse:
    study = participant.study
    base = {"study": study, "spec": study.spec, "wording": presentation.wording(study.spec)}
    return render(request, f"annotation/{template}", {**base, **(context or {})}, status=status)


def _item(study_name: str) -> HttpResponse:
    return redirect(reverse("annotation:item", args=[study_name]))


def hold(request: HttpRequest, participant: Participant) -> HttpResponse | None:
    """The daily-limit page or the break reminder instead of the next item, or None."""
    spec = participant.study.spec
    if not safety.holds_work(spec):
        return None
    now = timezone.now()
    cap = safety.settings_of(spec).get("daily_item_cap")
    if cap:
        done, oldest = safety.daily_count(participant, now)
        if done >= cap and oldest is not None:
            back = oldest + safety.DAY
            safety.keep_place(
                participant, back + safety.assignment_module.lease_length(participant.study)
            )
            return _page(request, participant, "daily_limit.html", {"cap": cap, "back": back})
    if safety.break_due(participant, now):
        safety.record(participant, SafetyEvent.Kind.BREAK_REMINDER, now)
        minutes = safety.settings_of(spec)["break_reminder_minutes"]
        return _page(request, participant, "break.html", {"minutes": minutes})
    return None


def _participant(request: HttpRequest, study_name: str):
    return steps.registered(request, study_name)


@require_http_methods(["POST"])
def skip(request: HttpRequest, study_name: str) -> HttpResponse:
    participant, bounce = _participant(request, study_name)
    if bounce:
        return bounce
    if not safety.skip_allowed(participant.study.spec):
        return _item(study_name)
    try:
        entry_id = int(request.POST.get("entry_id", ""))
    except ValueError:
        entry_id = None
    done = safety.skip_item(participant, entry_id, timezone.now())
    if done.code == "complete" or done.batch_completed:
        return redirect(reverse("annotation:done", args=[study_name]))
    return _item(study_name)  # skipped, or not the current item: the item expected now


@never_cache
@require_http_methods(["GET", "POST"])
def pause(request: HttpRequest, study_name: str) -> HttpResponse:
    """POST: pause (the place is kept for the study's lease length); the paused page."""
    participant, bounce = _participant(request, study_name)
    if bounce:
        return bounce
    now = timezone.now()
    if request.method == "POST":
        safety.record(participant, SafetyEvent.Kind.PAUSE, now)
        study = participant.study
        safety.keep_place(participant, now + safety.assignment_module.lease_length(study))
        return redirect(reverse("annotation:pause", args=[study_name]))
    minutes = participant.study.lease_minutes
    return _page(request, participant, "paused.html", {"minutes": minutes})


@require_http_methods(["GET", "POST"])
def break_page(request: HttpRequest, study_name: str) -> HttpResponse:
    """POST action=resume: back to work from a pause or a reminder."""
    participant, bounce = _participant(request, study_name)
    if bounce:
        return bounce
    if request.method == "POST":
        safety.record(participant, SafetyEvent.Kind.RESUME, timezone.now())
    return _item(study_name)
