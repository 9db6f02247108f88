"""Who is asking: the signed cookie that names a visitor of one study's link.

A visitor is known by the identity their link gave (a crowd id, an invitation, or an id
generated for them) before they become a participant: the ``Participant`` row is created
when they consent, not when they open the link, so bursts of link openings (or scripts)
write nothing. Until then the cookie carries what registration needs (the platform's
study and session ids, when the content warning was acknowledged).

The cookie holds the identity itself, never a database id: nothing in it is sequential
or guessable, and it is signed, so it cannot be forged or moved to another study.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .. import hot_path
from ..models import Participant

COOKIE_SALT = "evalsite.visitor"
COOKIE_MAX_AGE = 60 * 60 * 24 * 30  # a crowd study is done within days; a month covers a return


@dataclass(frozen=True)
class Visitor:
    external_id: str
    source: str  # prolific | mturk | invite | cookie
    platform_study_id: str = ""  # Prolific's STUDY_ID, MTurk's hitId
    platform_session_id: str = ""  # Prolific's SESSION_ID, MTurk's assignmentId
    platform_submit_to: str = ""  # MTurk: the checked turkSubmitTo origin (views/mturk.py)
    warning_acknowledged_at: str = ""  # ISO time, before registration

    def acknowledged_warning(self, at: str) -> Visitor:
        return replace(self, warning_acknowledged_at=at)


def cookie_name(study_name: str) -> str:
    # Per study, named by a hash: study names may hold characters a cookie name may not.
    return "evalsite_v_" + hashlib.sha256(study_name.encode()).hexdigest()[:12]


def read(request: HttpRequest, study_name: str) -> Visitor | None:
    """The visitor of the request's signed cookie for this study (checked once per request:
    the view and annotation.views.mturk's middleware both ask)."""
    seen: dict[str, Visitor | None] = request.__dict__.setdefault("_evalsite_visitors", {})
    if study_name not in seen:
        seen[study_name] = _from_cookie(request, study_name)
    return seen[study_name]


def _from_cookie(request: HttpRequest, study_name: str) -> Visitor | None:
    raw = request.get_signed_cookie(cookie_name(study_name), default=None, salt=COOKIE_SALT)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return Visitor(**{k: str(v) for k, v in data.items() if k in Visitor.__dataclass_fields__})
    except (ValueError, TypeError):
        return None  # a cookie from an older version, or damaged: start again


def remember(response: HttpResponse, study_name: str, visitor: Visitor) -> HttpResponse:
    response.set_signed_cookie(
        cookie_name(study_name),
        json.dumps(asdict(visitor), separators=(",", ":")),
        salt=COOKIE_SALT,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        # MTurk shows the pages in a frame on its own site, where only a SameSite=None
        # cookie (which must be Secure) is sent.
        samesite="None"
        if visitor.source == "mturk" and settings.PARTICIPANT_COOKIE_SECURE
        else "Lax",
        secure=settings.PARTICIPANT_COOKIE_SECURE,
    )
    return response


def participant_of(study_name: str, visitor: Visitor) -> Participant | None:
    """The registered participant behind `visitor`, with their study, in one query."""
    # Hand-written SQL: this runs on every annotator request (see hot_path).
    return hot_path.participant_with_study(study_name, visitor.external_id)


def visitor_of(participant: Participant) -> Visitor:
    return Visitor(
        external_id=participant.external_id,
        source=participant.source,
        platform_study_id=participant.platform_study_id,
        platform_session_id=participant.platform_session_id,
    )


__all__ = ["Visitor", "cookie_name", "read", "remember", "participant_of", "visitor_of"]
