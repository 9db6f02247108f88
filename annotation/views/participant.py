"""Annotator pages: entry link → consent → content warning → instructions → items → done.

The server decides every step; a participant is identified by a crowd id from the URL
(PROLIFIC_PID, STUDY_ID, SESSION_ID) or by a generated id kept in a signed cookie.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_http_methods

from .. import services
from ..assignment import request_work
from ..invitations import InvalidInvitation, read_invitation
from ..models import Participant, Study
from ..selectors import batch_length, has_completed_batch

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
        _cookie_name(study), str(participant.pk), salt=COOKIE_SALT,
        max_age=60 * 60 * 24 * 30, httponly=True, samesite="Lax",
    )
    return response


def _open_study(name: str) -> Study:
    return get_object_or_404(Study, name=name)


def _next_step(participant: Participant) -> str:
    study = participant.study
    if participant.consented_at is None:
        return "consent"
    if study.spec.get("content_warning") and participant.warning_acknowledged_at is None:
        return "warning"
    if participant.instructions_read_at is None:
        return "instructions"
    return "item"


def _go(study: Study, step: str) -> HttpResponse:
    return redirect(reverse(f"annotation:{step}", args=[study.name]))


@require_http_methods(["GET"])
def entry(request: HttpRequest, study_name: str) -> HttpResponse:
    """The link annotators open. An invitation token or crowd parameters name the
    participant; otherwise a generated id in a signed cookie does."""
    study = _open_study(study_name)
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
            study, prolific_id[:200], "prolific",
            platform_study_id=request.GET.get("STUDY_ID", ""),
            platform_session_id=request.GET.get("SESSION_ID", ""),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    else:
        participant = _current_participant(request, study) or services.get_or_create_participant(
            study, f"anon-{uuid.uuid4().hex[:16]}", "cookie",
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
    return _remember(_go(study, _next_step(participant)), study, participant)


def _participant_or_entry(request: HttpRequest, study: Study):
    participant = _current_participant(request, study)
    if participant is None:
        return None, _go(study, "entry")
    return participant, None


def _page(request, study, template, context=None, status=200) -> HttpResponse:
    base = {"study": study, "spec": study.spec}
    base.update(context or {})
    return render(request, f"annotation/{template}", base, status=status)


def _agree_step(request: HttpRequest, study_name: str, *, template: str, button: str,
                field: str, after_consent: bool = False) -> HttpResponse:
    """A page the participant must accept to go on (consent, content warning)."""
    study = _open_study(study_name)
    participant, bounce = _participant_or_entry(request, study)
    if bounce:
        return bounce
    if after_consent and participant.consented_at is None:
        return _go(study, "consent")
    if request.method == "POST":
        if request.POST.get(button) == "yes":
            services.mark_step(participant, field)
            return _go(study, _next_step(participant))
        return _page(request, study, "declined.html")
    return _page(request, study, template)


@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, study_name: str) -> HttpResponse:
    return _agree_step(request, study_name, template="consent.html", button="consent",
                       field="consented_at")


@require_http_methods(["GET", "POST"])
def warning(request: HttpRequest, study_name: str) -> HttpResponse:
    return _agree_step(request, study_name, template="warning.html", button="continue",
                       field="warning_acknowledged_at", after_consent=True)


@require_http_methods(["GET", "POST"])
def instructions(request: HttpRequest, study_name: str) -> HttpResponse:
    study = _open_study(study_name)
    participant, bounce = _participant_or_entry(request, study)
    if bounce:
        return bounce
    step = _next_step(participant)
    if step in ("consent", "warning"):
        return _go(study, step)
    if request.method == "POST":
        services.mark_step(participant, "instructions_read_at")
        return _go(study, "item")
    return _page(request, study, "instructions.html", {"example": study.spec.get("example")})


@require_http_methods(["GET", "POST"])
def item(request: HttpRequest, study_name: str) -> HttpResponse:
    study = _open_study(study_name)
    participant, bounce = _participant_or_entry(request, study)
    if bounce:
        return bounce
    step = _next_step(participant)
    if step != "item":
        return _go(study, step)

    errors: list[str] = []
    submitted: dict = {}
    if request.method == "POST":
        values, rationales = _answers_from_post(request, study)
        submitted = {"values": values, "rationales": rationales}
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

    if not errors and has_completed_batch(participant):
        active = participant.assignments.filter(status="active").exists()
        if not active:
            return _go(study, "done")
    work = request_work(participant)
    if work.assignment is None:
        return _page(request, study, "no_work.html", status=200)
    entry_row = services.next_entry(work.assignment)
    if entry_row is None:  # pragma: no cover - a completed assignment is never active
        return _go(study, "done")
    total = batch_length(work.assignment.slot.batch_id)
    context = {
        "entry": entry_row,
        "item": entry_row.item,
        "turns": entry_row.item.context.turns,
        "response_speaker": _response_speaker(entry_row.item.context.turns),
        "position": entry_row.position + 1,
        "total": total,
        "percent": round(100 * entry_row.position / total) if total else 0,
        "dimensions": _dimensions_for_template(study, submitted),
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
    return _page(request, study, "done.html", {
        "code": completion.get("code"), "redirect_url": completion.get("redirect_url"),
    })


def _answers_from_post(request: HttpRequest, study: Study) -> tuple[dict, dict]:
    values, rationales = {}, {}
    for field, raw in request.POST.items():
        if field.startswith("value__"):
            values[field[len("value__"):]] = raw
        elif field.startswith("rationale__") and raw.strip():
            rationales[field[len("rationale__"):]] = raw
    return values, rationales


def _dimensions_for_template(study: Study, submitted: dict) -> list[dict]:
    values = submitted.get("values", {})
    rationales = submitted.get("rationales", {})
    shown = []
    for dim in study.dimensions:
        row = dict(dim)
        row["submitted"] = values.get(dim["key"], "")
        row["submitted_rationale"] = rationales.get(dim["key"], "")
        if dim["type"] == "likert":
            labels = dim.get("labels") or []
            row["options"] = [
                (i, labels[i - 1] if len(labels) >= i else str(i)) for i in range(1, int(dim["points"]) + 1)
            ]
        shown.append(row)
    return shown


def _response_speaker(turns: list[dict]) -> str:
    """Who answers: the speaker before the last turn in a two-party dialogue."""
    if len(turns) >= 2 and turns[-2].get("speaker") != turns[-1].get("speaker"):
        return turns[-2].get("speaker") or "Response"
    return "Response"


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
