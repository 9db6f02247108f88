"""Who may see and do what in the console: the one place views ask.

`study_for(request, name, action)` returns the study or raises Http404 — never 403, so a
researcher cannot learn which studies exist. Until per-study roles exist, staff may do
everything and nobody else anything.
"""

from __future__ import annotations

from typing import Literal

from django.http import Http404, HttpRequest

from annotation.models import Study

Action = Literal["view", "edit", "manage"]  # viewer / editor / owner


def can(user, study: Study, action: Action) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def study_for(request: HttpRequest, study_name: str, action: Action = "view") -> Study:
    study = Study.objects.filter(name=study_name).first()
    if study is None or not can(request.user, study, action):
        raise Http404("No such study")
    return study


def visible_studies(user):
    """The studies `user` may view, newest first."""
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return Study.objects.none()
    return Study.objects.order_by("-created_at")
