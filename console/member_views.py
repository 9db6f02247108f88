"""A study's members page and its changes (owners only), and joining by an invitation link.

Every change is a POST with its CSRF token; the permission is asked first (console.access),
so a non-member gets 404 whatever the method.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse

from annotation.links import site_url

from . import members
from .access import can, role_of, study_for
from .models import Role, StudyInvitation, StudyMembership


def _post_only(request: HttpRequest) -> HttpResponse | None:
    return None if request.method == "POST" else HttpResponseNotAllowed(["POST"])


def _back(study_name: str) -> HttpResponse:
    return redirect(reverse("console-members", args=[study_name]))


@login_required
def study_members(request: HttpRequest, study_name: str) -> HttpResponse:
    study = study_for(request, study_name, "view")
    manage = can(request.user, study, "manage")
    return render(
        request,
        "console/members.html",
        {
            "study": study,
            "members": StudyMembership.objects.filter(study=study).select_related(
                "user", "added_by"
            ),
            "invitations": (
                [i for i in StudyInvitation.objects.filter(study=study) if i.state == "pending"]
                if manage
                else []
            ),
            "roles": Role.choices,
            "manage": manage,
            "my_role": role_of(request.user, study),
        },
    )


def _change(request: HttpRequest, study_name: str, change) -> HttpResponse:
    """Run one owner's change of the members; its problem, if any, is shown on the page."""
    study = study_for(request, study_name, "manage")
    if (refused := _post_only(request)) is not None:
        return refused
    try:
        done = change(study)
    except members.MembershipError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    if not can(request.user, study, "view"):  # an owner who removed themselves
        return redirect(reverse("console"))
    return _back(study.name)


@login_required
def add_member(request: HttpRequest, study_name: str) -> HttpResponse:
    def change(study):
        m = members.add_member(
            study, request.POST.get("username", ""), request.POST.get("role", ""), by=request.user
        )
        return f"{m.user.username} is now a member ({m.role})"

    return _change(request, study_name, change)


@login_required
def change_role(request: HttpRequest, study_name: str, user_id: int) -> HttpResponse:
    def change(study):
        m = members.change_role(study, user_id, request.POST.get("role", ""))
        return f"{m.user.username} is now {m.role}"

    return _change(request, study_name, change)


@login_required
def remove_member(request: HttpRequest, study_name: str, user_id: int) -> HttpResponse:
    def change(study):
        members.remove_member(study, user_id)
        return "member removed"

    return _change(request, study_name, change)


@login_required
def create_invitation(request: HttpRequest, study_name: str) -> HttpResponse:
    def change(study):
        invitation = members.create_invitation(study, request.POST.get("role", ""), by=request.user)
        # From the configured site address, never the Host header (annotation.links).
        link = site_url(request) + reverse(
            "console-invitation", args=[members.invitation_token(invitation)]
        )
        # Shown once: the link is not stored, only whether it was used.
        return (
            f"Invitation link ({invitation.role}, single use, until "
            f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC): {link}"
        )

    return _change(request, study_name, change)


@login_required
def revoke_invitation(request: HttpRequest, study_name: str, invitation_id: int) -> HttpResponse:
    def change(study):
        members.revoke_invitation(study, invitation_id)
        return "invitation withdrawn"

    return _change(request, study_name, change)


@login_required
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    """GET: what the link offers; POST: join. A bad link says why, and changes nothing."""
    try:
        invitation = members.invitation_from_token(token)
    except members.MembershipError as error:
        return render(request, "console/invitation.html", {"problem": str(error)}, status=404)
    if request.method == "POST":
        try:
            membership = members.accept_invitation(token, request.user)
        except members.MembershipError as error:
            return render(request, "console/invitation.html", {"problem": str(error)}, status=409)
        messages.success(request, f"You joined {membership.study.name} as {membership.role}.")
        return redirect(reverse("console-study", args=[membership.study.name]))
    return render(request, "console/invitation.html", {"invitation": invitation})
