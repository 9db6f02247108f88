"""The annotator's opening steps, in one place: which page comes next, the redirect to it,
and "is this visitor a registered participant?". The participant, qualification and safety
views all use them (here, not in participant.py, so those modules import no view module
that imports them back)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse

from ..models import Participant, Study
from . import identity
from .identity import Visitor

REDIRECT_SECONDS = 10  # a completion page's wait before its redirect: long enough to note the code


def open_study(name: str) -> Study:
    return get_object_or_404(Study, name=name)


def next_step(study: Study, participant: Participant | None, visitor: Visitor | None) -> str:
    """The opening pages in order: the content warning first (so nobody agrees to take
    part before knowing what they will read), then consent, then the instructions."""
    if participant is None:
        acknowledged = visitor is not None and visitor.warning_acknowledged_at
        return "warning" if study.spec.get("content_warning") and not acknowledged else "consent"
    if study.spec.get("content_warning") and participant.warning_acknowledged_at is None:
        return "warning"
    if participant.consented_at is None:
        return "consent"
    if participant.instructions_read_at is None:
        return "instructions"
    return "item"


def go(study_name: str, step: str) -> HttpResponse:
    return redirect(reverse(f"annotation:{step}", args=[study_name]))


def registered(request: HttpRequest, study_name: str):
    """(participant, None) for a registered visitor, else (None, where they belong)."""
    visitor = identity.read(request, study_name)
    if visitor is None:
        return None, go(study_name, "entry")
    participant = identity.participant_of(study_name, visitor)
    if participant is None:
        study = open_study(study_name)
        return None, go(study.name, next_step(study, None, visitor))
    return participant, None
