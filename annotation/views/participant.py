"""Annotator pages: entry link → content warning → consent → instructions → items → done.

The server decides every step. A visitor is named by their link (a crowd id from the URL:
PROLIFIC_PID, STUDY_ID, SESSION_ID; an invitation; or an id generated for them) and kept in
a signed cookie (`identity.py`); they become a `Participant` when they consent, so opening
the link — once or a thousand times — writes nothing. Before any reading is asked of them,
the pages check that the study is open and that a batch is left, so nobody reads a consent
form to be told there is no work. Public links are rate limited (`limits.py`).

The next-item page and the submit are the hot path of a study (every annotator, every
item): a participant is read with their study in one query and a submit is four or five
statements (see `services.record_judgment`); tests pin the counts.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from .. import completion, hot_path, safety, services
from ..assignment import live_assignment, request_work, work_available, work_left_for_newcomers
from ..invitations import InvalidInvitation, read_invitation
from ..models import Assignment, Judgment, Participant, Study
from ..mturk import MTurkLinkError
from ..selectors import has_completed_batch
from . import identity, item_page, limits, presentation
from . import mturk as mturk_views
from . import qualification as qualification_views
from . import safety as safety_views
from .forms import JudgmentForm
from .identity import Visitor
from .steps import REDIRECT_SECONDS
from .steps import go as _go
from .steps import next_step as _next_step
from .steps import open_study as _open_study
from .steps import registered as _registered

# Longest crowd-platform ids kept (the Participant columns); longer ones are refused, never
# cut (two different long ids must not become one participant).
MAX_PLATFORM_ID = 200
# A client clock is believed only this close to the server's (a wrong clock, a forged
# field): outside it the client time is not stored.
CLIENT_CLOCK_WINDOW = timedelta(days=1)
# The item page's script sets this field at submit: answer a stored judgment with the next
# item's page (200) instead of a redirect to it. Without the script (no JavaScript, API
# clients, the tests' client) a submit is answered by the usual redirect.
NEXT_IN_RESPONSE = "next_in_response"


def _page(request, study, template, context=None, status=200) -> HttpResponse:
    base = {"study": study, "spec": study.spec, "wording": presentation.wording(study.spec)}
    base.update(context or {})
    return render(request, f"annotation/{template}", base, status=status)


def _status_page(request: HttpRequest, study: Study) -> HttpResponse:
    return _page(request, study, "unavailable.html", {"status": study.status})


def _no_work_page(request: HttpRequest, study: Study, from_prolific: bool, status: int = 200):
    code, redirect_url = completion.no_work_completion(study)
    return _page(
        request,
        study,
        "no_work.html",
        {
            "no_work_code": code,
            "redirect_url": redirect_url,
            "redirect_seconds": REDIRECT_SECONDS,
            "from_prolific": from_prolific,
        },
        status=status,
    )


def _too_many(request: HttpRequest, study: Study) -> HttpResponse:
    response = _page(request, study, "rate_limited.html", status=429)
    response["Retry-After"] = "60"
    return response


def _bad_link(request: HttpRequest, study: Study, reason: str) -> HttpResponse:
    return _page(request, study, "invalid_link.html", {"reason": reason}, status=400)


def _holds_lease(participant: Participant) -> bool:
    return participant.assignments.filter(status=Assignment.Status.ACTIVE).exists()


def _closed_to(study: Study, holds_lease: bool) -> bool:
    """A closed or draft (not yet opened) study serves no work; a paused one lets a lease
    holder finish the batch."""
    return study.status in (Study.Status.CLOSED, Study.Status.DRAFT) or (
        study.status == Study.Status.PAUSED and not holds_lease
    )


def _blocked_before_work(
    request: HttpRequest, study: Study, participant: Participant | None, visitor: Visitor
) -> HttpResponse | None:
    """The page to show instead of an opening page, or None to go on.

    A participant who finished goes to their completion page; a closed or paused study,
    or one with no batch left for this visitor, says so before anything is read. Nobody
    new is registered on a study that is not open.
    """
    from_prolific = visitor.source == "prolific"
    if participant is None:
        if study.status != Study.Status.OPEN:
            return _status_page(request, study)
        if not work_left_for_newcomers(study):
            return _no_work_page(request, study, from_prolific)
        return None
    if has_completed_batch(participant):
        return _go(study.name, "done")
    holds_lease = _holds_lease(participant)
    if _closed_to(study, holds_lease):
        return _status_page(request, study)
    if not holds_lease and qualification_views.screened_out(participant):  # their code
        return _go(study.name, "qualification")
    if not holds_lease and not work_available(participant):
        return _no_work_page(request, study, from_prolific)
    return None


def _visitor_from_link(request: HttpRequest, study: Study, known: Visitor | None):
    """(visitor, None) named by the link's parameters (or the cookie, or a new id), or
    (None, the page that refuses the link)."""
    if mturk_views.in_link(request):  # MTurk's ExternalQuestion parameters (views/mturk.py)
        try:
            return mturk_views.visitor_from_link(request, known), None
        except MTurkLinkError as error:
            return None, _bad_link(request, study, str(error))
    prolific_id = request.GET.get("PROLIFIC_PID", "").strip()
    invitation = request.GET.get("invite", "").strip()
    if invitation:
        try:
            label = read_invitation(study.name, invitation)
        except InvalidInvitation as error:
            return None, _bad_link(request, study, str(error))
        external_id, source = f"invite:{label}", "invite"
        extra = {}
    elif prolific_id:
        extra = {
            "platform_study_id": request.GET.get("STUDY_ID", "").strip(),
            "platform_session_id": request.GET.get("SESSION_ID", "").strip(),
        }
        for name, value in (
            ("PROLIFIC_PID", prolific_id),
            *zip(("STUDY_ID", "SESSION_ID"), extra.values(), strict=True),
        ):
            if len(value) > MAX_PLATFORM_ID:
                return None, _bad_link(
                    request,
                    study,
                    f"its {name} is {len(value)} characters long, and at most "
                    f"{MAX_PLATFORM_ID} are accepted",
                )
        external_id, source = prolific_id, "prolific"
    elif known is not None:
        return known, None
    else:
        return Visitor(f"anon-{uuid.uuid4().hex}", "cookie"), None
    if known is not None and known.external_id == external_id:
        return known, None  # the same person again: keep what they have done before registering
    return Visitor(external_id, source, **extra), None


@require_http_methods(["GET"])
def entry(request: HttpRequest, study_name: str) -> HttpResponse:
    """The link annotators open. An invitation token or crowd parameters name the
    visitor; otherwise a generated id in the signed cookie does."""
    study = _open_study(study_name)
    if limits.limited(request, study.name, "EVALSITE_ENTRY_RATE_PER_IP"):
        return _too_many(request, study)
    if mturk_views.is_preview(request):  # a HIT previewed, not accepted: record nothing
        if study.status != Study.Status.OPEN:
            return _status_page(request, study)
        return mturk_views.preview_page(request, study)
    visitor, refused = _visitor_from_link(request, study, identity.read(request, study.name))
    if refused is not None:
        return refused
    assert visitor is not None
    if visitor.source != "cookie" and limits.limited(
        request, study.name, "EVALSITE_ENTRY_RATE_PER_IDENTITY", identity=visitor.external_id
    ):
        return _too_many(request, study)
    participant = identity.participant_of(study.name, visitor)
    blocked = _blocked_before_work(request, study, participant, visitor)
    response = blocked or _go(study.name, _next_step(study, participant, visitor))
    return identity.remember(response, study.name, visitor)


def _opening_step(request: HttpRequest, study_name: str, step: str):
    """Shared start of the opening pages: (study, visitor, participant or None, None) to
    show `step`, or (…, a response) when the visitor belongs elsewhere."""
    visitor = identity.read(request, study_name)
    if visitor is None:
        return None, None, None, _go(study_name, "entry")
    participant = identity.participant_of(study_name, visitor)
    study = participant.study if participant is not None else _open_study(study_name)
    blocked = _blocked_before_work(request, study, participant, visitor)
    if blocked:
        return study, visitor, participant, blocked
    expected = _next_step(study, participant, visitor)
    order = ["warning", "consent", "instructions", "item"]
    if order.index(expected) < order.index(step):
        return study, visitor, participant, _go(study.name, expected)  # an earlier page first
    return study, visitor, participant, None


@require_http_methods(["GET", "POST"])
def warning(request: HttpRequest, study_name: str) -> HttpResponse:
    study, visitor, participant, bounce = _opening_step(request, study_name, "warning")
    if bounce:
        return bounce
    if request.method == "POST":
        if request.POST.get("continue") != "yes":
            return _page(request, study, "declined.html")
        if participant is not None:
            services.mark_step(participant, "warning_acknowledged_at")
        else:  # not registered yet: the cookie remembers until they consent
            visitor = visitor.acknowledged_warning(timezone.now().isoformat())
        response = _go(study.name, _next_step(study, participant, visitor))
        return identity.remember(response, study.name, visitor)
    return _page(request, study, "warning.html", {"support_in_page": True})


@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, study_name: str) -> HttpResponse:
    study, visitor, participant, bounce = _opening_step(request, study_name, "consent")
    if bounce:
        return bounce
    if request.method == "POST":
        if request.POST.get("consent") != "yes":
            return _page(request, study, "declined.html")
        if participant is None:
            if limits.limited(request, study.name, "EVALSITE_REGISTRATION_RATE_PER_IP"):
                return _too_many(request, study)
            participant = _register(request, study, visitor)
        services.mark_step(participant, "consented_at")
        return _go(study.name, _next_step(study, participant, visitor))
    return _page(request, study, "consent.html")


def _register(request: HttpRequest, study: Study, visitor: Visitor) -> Participant:
    """The visitor becomes a participant: on consent, with the warning they acknowledged."""
    warned = parse_datetime(visitor.warning_acknowledged_at or "") if visitor else None
    return services.get_or_create_participant(
        study,
        visitor.external_id,
        visitor.source,
        platform_study_id=visitor.platform_study_id,
        platform_session_id=visitor.platform_session_id,
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        consented_at=timezone.now(),
        warning_acknowledged_at=warned,
    )


@require_http_methods(["GET", "POST"])
def instructions(request: HttpRequest, study_name: str) -> HttpResponse:
    study, visitor, participant, bounce = _opening_step(request, study_name, "instructions")
    if bounce:
        return bounce
    if participant is None:  # pragma: no cover - _opening_step sends them to consent
        return _go(study.name, "consent")
    if request.method == "POST":
        services.mark_step(participant, "instructions_read_at")
        return _go(study.name, "item")
    return _page(
        request, study, "instructions.html", {"example": presentation.solved_example(study.spec)}
    )


# What an annotator is told when a submit is not stored as sent (HTTP 409, with the page of
# the item the server expects now).
REFUSAL_NOTICES = {
    "already_saved": (
        "Your answers for that item were already saved (from another tab, the Back button "
        "or a second click). Here is your next item."
    ),
    "out_of_date": "That page was out of date, so nothing was saved from it. Here is the item you are on.",
    "key_conflict": (
        "That item had already been saved with other answers; the answers saved first are "
        "kept. Here is your next item."
    ),
    "revived": (
        "Your time on this batch ran out, but nobody else has taken it: carry on where you "
        "stopped. The answer you just sent was not saved; please give it again."
    ),
    "new": (
        "Your time on your previous batch ran out and it was given to someone else; the "
        "answers you saved there are kept. The answer you just sent was not saved. You have "
        "a new batch now."
    ),
    "resumed": "That answer was not saved. Here is the item you are on.",
}


@never_cache  # Back/forward must fetch the item the server expects now, not a stored page
@require_http_methods(["GET", "POST"])
def item(request: HttpRequest, study_name: str) -> HttpResponse:
    participant, bounce = _registered(request, study_name)
    if bounce:
        return bounce
    study = participant.study
    step = _next_step(study, participant, None)
    if step != "item":
        return _go(study.name, step)
    if study.status != Study.Status.OPEN:
        holds_lease = _holds_lease(participant)
        if _closed_to(study, holds_lease):
            if not holds_lease and has_completed_batch(participant):
                return _go(study.name, "done")
            return _status_page(request, study)

    if request.method == "GET":  # a break reminder or the daily cap (no query without them)
        held = safety_views.hold(request, participant)
        if held is not None:
            return held
    form = JudgmentForm(
        hot_path.dimension_types(study), request.POST if request.method == "POST" else None
    )
    errors: list[str] = []
    notice = ""
    now = timezone.now()
    if request.method == "POST":
        outcome = _submit(request, participant, form, now)
        if isinstance(outcome, HttpResponse):
            return outcome
        errors, notice = outcome
    return _item_page(request, participant, form, now, errors, notice)


def _submit(request: HttpRequest, participant: Participant, form: JudgmentForm, now: datetime):
    """Record the POSTed judgment: the redirect to what comes next, or (errors, notice) for
    a submit that was not stored (errors: answers to correct; notice: a REFUSAL_NOTICES key,
    or "lease" when the lease was lost — which notice depends on the work found next)."""
    study = participant.study
    values, rationales = form.answers()
    sent_time = request.POST.get("client_submitted_at", "")
    client_time = _client_time(sent_time, now)
    entry_id = _int(request.POST.get("entry_id"))
    in_response = request.POST.get(NEXT_IN_RESPONSE) == "1"
    try:
        recorded = services.record_judgment(
            participant,
            entry_id=entry_id,
            values=values,
            rationales=rationales,
            idempotency_key=request.POST.get("idempotency_key", ""),
            time_on_item_ms=_int(request.POST.get("time_on_item_ms")),
            client_submitted_at=client_time,
            client_time_refused="" if client_time or not sent_time else sent_time[:64],
            now=now,
            # A study with breaks or a daily cap shows its next item through a GET (the checks).
            with_next=in_response and not safety.holds_work(study.spec),
        )
    except services.JudgmentRefused as refused:
        return _refusal(participant, refused, entry_id)
    # The page's script asked for what comes next in this response: one request per
    # judgment, not a redirect and a GET (the page then replaces its history entry — the
    # done page with its own address — so a reload is a GET, as after a redirect).
    if recorded.next_entry is not None:
        return _entry_page(request, study, recorded.next_entry, None)
    if recorded.batch_completed and in_response:
        return _done_page(request, participant)
    return _go(study.name, "done" if recorded.batch_completed else "item")


def _refusal(participant: Participant, refused: services.JudgmentRefused, entry_id: int | None):
    if refused.code in ("invalid", "bad_key"):
        return refused.problems, ""
    finished = refused.code == "complete" or (
        refused.code == "no_assignment"
        and has_completed_batch(participant)
        and not _holds_lease(participant)
    )
    if finished:
        return _go(participant.study.name, "done")
    if refused.code == "key_conflict":
        return [], "key_conflict"
    if refused.code == "no_assignment":
        return [], "lease"
    judged = entry_id is not None and (
        Judgment.objects.filter(participant=participant, entry_id=entry_id).exists()
    )
    return [], "already_saved" if judged else "out_of_date"


def _item_page(
    request: HttpRequest,
    participant: Participant,
    form: JudgmentForm,
    now: datetime,
    errors: list[str],
    notice: str,
) -> HttpResponse:
    """The item the server expects next (after a refused submit, with its notice)."""
    study = participant.study
    live = live_assignment(participant, now)
    if live is None:
        if not errors and has_completed_batch(participant):
            return _go(study.name, "done")
        held = qualification_views.hold(request, participant)  # no query without one
        if held is not None:
            return held
        work = request_work(participant, now)
        if work.assignment is None:
            return _no_work_page(
                request, study, participant.source == "prolific", status=409 if notice else 200
            )
        live = work.assignment
        if notice == "lease":
            notice = work.reason
    elif notice == "lease":
        notice = "resumed"
    entry_row = services.next_entry(live, study)
    if entry_row is None:  # pragma: no cover - a completed assignment is never active
        return _go(study.name, "done")
    return _entry_page(
        request,
        study,
        entry_row,
        None if notice else form,
        errors=errors,
        notice=notice,
    )


def _entry_page(
    request: HttpRequest,
    study: Study,
    entry_row,
    form: JudgmentForm | None,
    *,
    errors: list[str] | None = None,
    notice: str = "",
) -> HttpResponse:
    """One batch entry's item page (`form`: the answers sent, None for an empty form): 400
    with the answers to correct, 409 with a notice."""
    dimensions = hot_path.dimension_types(study)
    if not errors and not notice and (form is None or not form.is_bound):
        # the empty form's rows are only drawn when the study's page frame is made
        return item_page.fresh_item_page(
            request, study, entry_row, lambda: JudgmentForm(dimensions).rows()
        )
    if form is None:
        form = JudgmentForm(dimensions)
    context = presentation.item_context(
        study,
        entry_row,
        entry_row.batch_length,
        form.rows(),
        errors=errors or [],
        notice=REFUSAL_NOTICES.get(notice, ""),
        idempotency_key=request.POST.get("idempotency_key") if errors else uuid.uuid4().hex,
    )
    status = 400 if errors else 409 if notice else 200
    return _page(request, study, "item.html", context, status=status)


@require_http_methods(["GET"])
def done(request: HttpRequest, study_name: str) -> HttpResponse:
    participant, bounce = _registered(request, study_name)
    if bounce:
        return bounce
    study = participant.study
    if not has_completed_batch(participant):
        return _go(study.name, _next_step(study, participant, None))
    return _done_page(request, participant)


def _done_page(request: HttpRequest, participant: Participant) -> HttpResponse:
    """The completion page of a participant who has completed a batch."""
    code, redirect_url = completion.completion_for(
        participant, completion.finished_outcome(participant)
    )
    return _page(
        request,
        participant.study,
        "done.html",
        {
            "code": code,
            "redirect_url": redirect_url,
            "redirect_seconds": REDIRECT_SECONDS,
            **mturk_views.submit_context(request, participant),
        },
    )


def _int(raw) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


def _client_time(raw, now: datetime) -> datetime | None:
    """The client's clock at submit, if it is a time within CLIENT_CLOCK_WINDOW of the
    server's; anything else (unparsable, no time zone, year 1 or 9999) is not stored. The
    server's receipt time is the truth; this is kept only as a hint for researchers."""
    if not raw or len(raw) > 64:
        return None
    try:
        parsed = parse_datetime(raw)
    except (ValueError, OverflowError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    try:
        if abs(parsed - now) > CLIENT_CLOCK_WINDOW:
            return None
    except OverflowError:
        return None
    return parsed
