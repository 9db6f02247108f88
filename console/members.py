"""Adding, changing and removing a study's members, and invitations to join it.

Every change runs in one transaction holding the study's row lock, so two owners acting at
once cannot leave a study without an owner. Problems are `MembershipError`s with a message
for the page; nothing is changed when one is raised.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.utils import timezone

from annotation.models import Study

from .models import INVITATION_LIFETIME, Role, StudyInvitation, StudyMembership

INVITATION_SALT = "console.invitation"


class MembershipError(ValueError):
    """A change that cannot be made, with the reason a researcher reads."""


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise MembershipError(
            f"role: {value!r} is not a role; one of {', '.join(Role.values)}"
        ) from None


def _locked(study: Study) -> Study:
    return Study.objects.select_for_update().get(pk=study.pk)


def _owners(study: Study) -> int:
    return StudyMembership.objects.filter(study=study, role=Role.OWNER).count()


def add_member(study: Study, username: str, role: str, *, by=None) -> StudyMembership:
    role = _role(role)
    username = username.strip()
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise MembershipError(f"username: no active researcher is called {username!r}")
    with transaction.atomic():
        _locked(study)
        existing = StudyMembership.objects.filter(study=study, user=user).first()
        if existing is not None:
            raise MembershipError(
                f"username: {username!r} is already a member ({existing.role}); change the role instead"
            )
        return StudyMembership.objects.create(study=study, user=user, role=role, added_by=by)


def change_role(study: Study, user_id: int, role: str) -> StudyMembership:
    role = _role(role)
    with transaction.atomic():
        _locked(study)
        membership = StudyMembership.objects.filter(study=study, user_id=user_id).first()
        if membership is None:
            raise MembershipError("member: not a member of this study")
        if membership.role == Role.OWNER and role != Role.OWNER and _owners(study) == 1:
            raise MembershipError(
                f"role: {membership.user.username} is the study's last owner; make another member an owner first"
            )
        membership.role = role
        membership.save(update_fields=["role"])
        return membership


def remove_member(study: Study, user_id: int) -> None:
    with transaction.atomic():
        _locked(study)
        membership = StudyMembership.objects.filter(study=study, user_id=user_id).first()
        if membership is None:
            raise MembershipError("member: not a member of this study")
        if membership.role == Role.OWNER and _owners(study) == 1:
            raise MembershipError(
                f"member: {membership.user.username} is the study's last owner and cannot be removed"
            )
        membership.delete()


def create_invitation(study: Study, role: str, *, by=None) -> StudyInvitation:
    return StudyInvitation.objects.create(study=study, role=_role(role), created_by=by)


def invitation_token(invitation: StudyInvitation) -> str:
    """The signed, timestamped token of an invitation link."""
    return signing.dumps(invitation.pk, salt=INVITATION_SALT)


def invitation_from_token(token: str) -> StudyInvitation:
    """The pending invitation a token names; MembershipError when it is forged, expired,
    used or withdrawn."""
    try:
        pk = signing.loads(token, salt=INVITATION_SALT, max_age=INVITATION_LIFETIME.total_seconds())
    except signing.SignatureExpired:
        raise MembershipError("this invitation link has expired; ask for a new one") from None
    except signing.BadSignature:
        raise MembershipError("this is not a valid invitation link") from None
    invitation = StudyInvitation.objects.select_related("study").filter(pk=pk).first()
    if invitation is None:
        raise MembershipError("this invitation was withdrawn")
    state = invitation.state
    if state != "pending":
        raise MembershipError(
            {
                "used": "this invitation link was already used; ask for a new one",
                "revoked": "this invitation was withdrawn",
                "expired": "this invitation link has expired; ask for a new one",
            }[state]
        )
    return invitation


def accept_invitation(token: str, user) -> StudyMembership:
    """`user` joins the invitation's study with its role; the link is then used up. The
    claim is one conditional UPDATE, so of two researchers opening it at once one joins."""
    invitation = invitation_from_token(token)
    with transaction.atomic():
        _locked(invitation.study)
        existing = StudyMembership.objects.filter(study=invitation.study, user=user).first()
        if existing is not None:
            raise MembershipError(
                f"you are already a member of {invitation.study.name} ({existing.role}); "
                "an owner can change your role"
            )
        now = timezone.now()
        claimed = StudyInvitation.objects.filter(
            pk=invitation.pk,
            used_at=None,
            revoked_at=None,
            created_at__gt=now - INVITATION_LIFETIME,
        ).update(used_by=user, used_at=now)
        if not claimed:  # used or withdrawn meanwhile
            raise MembershipError("this invitation link was already used; ask for a new one")
        return StudyMembership.objects.create(
            study=invitation.study, user=user, role=invitation.role, added_by=invitation.created_by
        )


def revoke_invitation(study: Study, invitation_id: int) -> None:
    updated = StudyInvitation.objects.filter(
        study=study, pk=invitation_id, used_at=None, revoked_at=None
    ).update(revoked_at=timezone.now())
    if not updated:
        raise MembershipError("invitation: no pending invitation of this study has that number")
