"""Annotator pages: entry link → content warning → consent → instructions → items → done.

The server decides every step; a participant is identified by a crowd id from the URL
(PROLIFIC_PID, STUDY_ID, SESSION_ID) or by a generated id kept in a signed cookie.
Before any reading is asked of them, the pages check that the study is open and that a
batch is left for this participant, so nobody reads a consent form to be told there is
no work.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .. import services
from ..assignment import request_work, work_available
from ..invitations import InvalidInvitation, read_invitation
from ..models import Assignment, Participant, Study
from ..selectors import batch_length, has_completed_batch
from . import presentation
from .forms import JudgmentForm

COOKIE_SALT = "evalsite.participant"


def _cookie_name(study: Study) -> str:
    return f"evalsite_p_{study.pk}"


def _current_participant(request: HttpRequest, study: Study) -> Participant | None:
    participant_id = request.get_signed_cookie(_cookie_name(study), default=None, salt=COOKIE_SALT)
    if participant_id is None:
        return None
    return Participant.objects.filter(pk=participant_id, study=study).first()


def _remember(response: HttpResponse, study: Study, participant: Participant) -> HttpResponse:
    response.set_signed_cookie(
        _cookie_name(study),
        str(participant.pk),
        salt=COOKIE_SALT,
        max_age=60 * 60 * 24 * 30,
        httponly=True,
        samesite="Lax",
    )
    return response


def _open_study(name: str) -> Study:
    return get_object_or_404(Study, name=name)


def _next_step(participant: Participant) -> str:
    """The opening pages in order: the content warning first (so nobody agrees to take
    part before knowing what they will read), then consent, then the instructions."""
    study = participant.study
    if study.spec.get("content_warning") and participant.warning_acknowledged_at is None:
        return "warning"
    if participant.consented_at is None:
        return "consent"
    if participant.instructions_read_at is None:
        return "instructions"
    return "item"


def _go(study: Study, step: str) -> HttpResponse:
    return redirect(reverse(f"annotation:{step}", args=[study.name]))


def _page(request, study, template, context=None, status=200) -> HttpResponse:
    base = {"study": study, "spec": study.spec, "wording": presentation.wording(study.spec)}
    base.update(context or {})
    return render(request, f"annotation/{template}", base, status=status)


def _status_page(request: HttpRequest, study: Study) -> HttpResponse:
    return _page(request, study, "unavailable.html", {"status": study.status})


def _no_work_page(request: HttpRequest, study: Study, participant: Participant | None):
    completion = study.spec.get("completion") or {}
    return _page(
        request,
        study,
        "no_work.html",
        {
            "no_work_code": completion.get("no_work_code"),
            "from_prolific": participant is not None and participant.source == "prolific",
        },
    )


def _holds_lease(participant: Participant) -> bool:
    return participant.assignments.filter(status=Assignment.Status.ACTIVE).exists()


def _closed_to(study: Study, holds_lease: bool) -> bool:
    """A closed study serves no work; a paused one lets a lease holder finish the batch."""
    return study.status == Study.Status.CLOSED or (
        study.status == Study.Status.PAUSED and not holds_lease
    )


def _blocked_before_work(request: HttpRequest, study: Study, participant: Participant):
    """The page to show instead of an opening page, or None to go on.

    A participant who finished goes to their completion page; a closed or paused study,
    or one with no batch left for this participant, says so before anything is read.
    """
    if has_completed_batch(participant):
        return _go(study, "done")
    holds_lease = _holds_lease(participant)
    if _closed_to(study, holds_lease):
        return _status_page(request, study)
    if not holds_lease and not work_available(participant):
        return _no_work_page(request, study, participant)
    return None


@require_http_methods(["GET"])
def entry(request: HttpRequest, study_name: str) -> HttpResponse:
    """The link annotators open. An invitation token or crowd parameters name the
    participant; otherwise a generated id in a signed cookie does."""
    study = _open_study(study_name)
    known = _current_participant(request, study)
    if study.status != Study.Status.OPEN and known is None:
        return _status_page(request, study)  # nobody new is registered on a closed study
    prolific_id = (request.GET.get("PROLIFIC_PID") or "").strip()
    invitation = (request.GET.get("invite") or "").strip()
    if invitation:
        try:
            label = read_invitation(study.name, invitation)
        except InvalidInvitation as error:
            return _page(request, study, "invalid_link.html", {"reason": str(error)}, status=400)
        participant = services.get_or_create_participant(
            study, f"invite:{label}", "invite", user_agent=request.META.get("HTTP_USER_AGENT", "")
        )
    elif prolific_id:
        participant = services.get_or_create_participant(
            study,
            prolific_id[:200],
            "prolific",
            platform_study_id=request.GET.get("STUDY_ID", ""),
            platform_session_id=request.GET.get("SESSION_ID", ""),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    else:
        participant = known or services.get_or_create_participant(
            study,
            f"anon-{uuid.uuid4().hex[:16]}",
            "cookie",
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    blocked = _blocked_before_work(request, study, participant)
    return _remember(blocked or _go(study, _next_step(participant)), study, participant)


def _participant_or_entry(request: HttpRequest, study: Study):
    participant = _current_participant(request, study)
    if participant is None:
        return None, _go(study, "entry")
    return participant, None


def _opening_step(request: HttpRequest, study_name: str, step: str):
    """Shared start of the opening pages: (study, participant, None) to show `step`, or
    (…, a response) when the participant belongs elsewhere."""
    study = _open_study(study_name)
    participant, bounce = _participant_or_entry(request, study)
    if bounce:
        return study, None, bounce
    blocked = _blocked_before_work(request, study, participant)
    if blocked:
        return study, participant, blocked
    expected = _next_step(participant)
    order = ["warning", "consent", "instructions", "item"]
    if order.index(expected) < order.index(step):
        return study, participant, _go(study, expected)  # an earlier page comes first
    return study, participant, None


def _agree_step(
    request: HttpRequest,
    study_name: str,
    *,
    step: str,
    template: str,
    button: str,
    field: str,
    context: dict | None = None,
) -> HttpResponse:
    """A page the participant must accept to go on (content warning, consent)."""
    study, participant, bounce = _opening_step(request, study_name, step)
    if bounce:
        return bounce
    if request.method == "POST":
        if request.POST.get(button) == "yes":
            services.mark_step(participant, field)
            return _go(study, _next_step(participant))
        return _page(request, study, "declined.html")
    return _page(request, study, template, context)


@require_http_methods(["GET", "POST"])
def warning(request: HttpRequest, study_name: str) -> HttpResponse:
    return _agree_step(
        request,
        study_name,
        step="warning",
        template="warning.html",
        button="continue",
        field="warning_acknowledged_at",
        context={"support_in_page": True},
    )


@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, study_name: str) -> HttpResponse:
    return _agree_step(
        request,
        study_name,
        step="consent",
        template="consent.html",
        button="consent",
        field="consented_at",
    )


@require_http_methods(["GET", "POST"])
def instructions(request: HttpRequest, study_name: str) -> HttpResponse:
    study, participant, bounce = _opening_step(request, study_name, "instructions")
    if bounce:
        return bounce
    if request.method == "POST":
        services.mark_step(participant, "instructions_read_at")
        return _go(study, "item")
    return _page(
        request, study, "instructions.html", {"example": presentation.solved_example(study.spec)}
    )


@never_cache  # Back/forward must fetch the item the server expects now, not a stored page
@require_http_methods(["GET", "POST"])
def item(request: HttpRequest, study_name: str) -> HttpResponse:
    study = _open_study(study_name)
    participant, bounce = _participant_or_entry(request, study)
    if bounce:
        return bounce
    step = _next_step(participant)
    if step != "item":
        return _go(study, step)
    holds_lease = _holds_lease(participant)
    if _closed_to(study, holds_lease):
        if has_completed_batch(participant) and not holds_lease:
            return _go(study, "done")
        return _status_page(request, study)

    errors: list[str] = []
    form = JudgmentForm(study.dimensions, request.POST if request.method == "POST" else None)
    if request.method == "POST":
        values, rationales = form.answers()
        try:
            recorded = services.record_judgment(
                participant,
                entry_id=_int(request.POST.get("entry_id")),
                values=values,
                rationales=rationales,
                idempotency_key=request.POST.get("idempotency_key", ""),
                time_on_item_ms=_int(request.POST.get("time_on_item_ms")),
                client_submitted_at=_datetime(request.POST.get("client_submitted_at")),
            )
        except services.JudgmentRefused as refused:
            if refused.code in {"unexpected_item", "complete", "duplicate", "no_assignment"}:
                # Back button, reload, second tab, expired lease: show what comes next.
                return _go(study, "item")
            errors = refused.problems
        else:
            if recorded.batch_completed:
                return _go(study, "done")
            return _go(study, "item")

    if not errors and has_completed_batch(participant) and not holds_lease:
        return _go(study, "done")
    work = request_work(participant)
    if work.assignment is None:
        return _no_work_page(request, study, participant)
    entry_row = services.next_entry(work.assignment)
    if entry_row is None:  # pragma: no cover - a completed assignment is never active
        return _go(study, "done")
    total = batch_length(work.assignment.slot.batch_id)
    wording = presentation.wording(study.spec)
    turns = entry_row.item.context.turns
    context = {
        "entry": entry_row,
        "item": entry_row.item,
        "turns": presentation.shown_turns(turns, wording),
        "response_speaker": presentation.response_speaker(turns, wording),
        "position": entry_row.position + 1,
        "total": total,
        "percent": round(100 * entry_row.position / total) if total else 0,
        "dimensions": form.rows(),
        "errors": errors,
        "idempotency_key": request.POST.get("idempotency_key") if errors else uuid.uuid4().hex,
        "pairwise": study.protocol == Study.Protocol.PAIRWISE,
    }
    return _page(request, study, "item.html", context, status=400 if errors else 200)


@require_http_methods(["GET"])
def done(request: HttpRequest, study_name: str) -> HttpResponse:
    study = _open_study(study_name)
    participant, bounce = _participant_or_entry(request, study)
    if bounce:
        return bounce
    if not has_completed_batch(participant):
        return _go(study, _next_step(participant))
    completion = study.spec.get("completion") or {}
    return _page(
        request,
        study,
        "done.html",
        {
            "code": completion.get("code"),
            "redirect_url": completion.get("redirect_url"),
            "redirect_seconds": REDIRECT_SECONDS,
        },
    )


REDIRECT_SECONDS = 10  # long enough to note the code; the link goes at once


def _int(raw) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _datetime(raw) -> datetime | None:
    if not raw:
        return None
    try:
        return parse_datetime(raw)
    except ValueError:
        return None
