"""Who may see and do what in the console: the one place views ask.

A study's members have a role (console.models.Role): an *owner* may do everything with the
study (delete it, manage its members), an *editor* may change it (edit while draft,
open/pause/close, import, launch generation), a *viewer* may look (progress, results,
downloads). Staff may do everything with every study. The rules are django-rules
permissions (`console.<action>_study`), checked through `user.has_perm(perm, study)` by the
rules backend in AUTHENTICATION_BACKENDS, so the admin, the views and the API ask the same
question.

`study_for(request, name, action)` returns the study or raises Http404 — never 403, so a
researcher cannot learn which studies exist. A WebSocket feed of a study closes with
`SOCKET_NOT_FOUND` (4404) for a study its user may not see, and with `SOCKET_LOGIN_REQUIRED`
(4403) for a visitor who is not logged in.

Whoever creates a study in the browser or the API owns it (`study_created`); a study made
by `create_study --owner USERNAME` is that researcher's. Members are changed in
console/members.py (the last owner stays).

Generation jobs, datasets and systems are the lab's shared resources (they have no owner):
any logged-in researcher may watch the jobs (`can_watch_jobs`).
"""

from __future__ import annotations

from typing import Literal

import rules
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from annotation.models import Study

from .models import Role, StudyMembership

Action = Literal["view", "edit", "manage", "delete"]

# What each action needs, at least (roles are ordered: owner > editor > viewer).
ACTIONS: dict[str, tuple[Role, ...]] = {
    "view": (Role.OWNER, Role.EDITOR, Role.VIEWER),  # progress, results, downloads, members
    "edit": (Role.OWNER, Role.EDITOR),  # spec while draft, status, import, generation
    "manage": (Role.OWNER,),  # members and invitations
    "delete": (Role.OWNER,),
}

SOCKET_LOGIN_REQUIRED = 4403
SOCKET_NOT_FOUND = 4404


def is_researcher(user) -> bool:
    """A logged-in, active account (annotators have none: they are Participants)."""
    return bool(user is not None and user.is_authenticated and user.is_active)


@rules.predicate
def is_staff(user) -> bool:
    return is_researcher(user) and bool(user.is_staff)


def role_of(user, study: Study) -> str | None:
    """The user's role in the study, or None for a non-member."""
    if not is_researcher(user) or study is None:
        return None
    return (
        StudyMembership.objects.filter(study=study, user=user).values_list("role", flat=True)
    ).first()


def _has_role(*roles: Role):
    @rules.predicate(name=f"has role {'/'.join(roles)}")
    def has_role(user, study) -> bool:
        return role_of(user, study) in roles

    return has_role


for _action, _roles in ACTIONS.items():
    rules.add_perm(f"console.{_action}_study", is_staff | _has_role(*_roles))


def can(user, study: Study, action: Action) -> bool:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    return is_researcher(user) and bool(user.has_perm(f"console.{action}_study", study))


def study_for(request: HttpRequest, study_name: str, action: Action = "view") -> Study:
    study = Study.objects.filter(name=study_name).first()
    if study is None or not can(request.user, study, action):
        raise Http404("No such study")
    return study


def visible_studies(user) -> QuerySet[Study]:
    """The studies `user` may view, newest first."""
    if not is_researcher(user):
        return Study.objects.none()
    studies = Study.objects.order_by("-created_at")
    if is_staff(user):
        return studies
    return studies.filter(memberships__user=user)


def can_watch_jobs(user) -> bool:
    return is_researcher(user)


def study_created(user, study: Study) -> StudyMembership | None:
    """Whoever creates a study in the console or the API owns it (staff too, so the study is
    theirs when their staff flag goes); an anonymous `user` (a command) owns nothing."""
    if not is_researcher(user):
        return None
    membership, _ = StudyMembership.objects.get_or_create(
        study=study, user=user, defaults={"role": Role.OWNER, "added_by": user}
    )
    return membership
