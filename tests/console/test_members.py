"""Owners manage a study's members on its page: add by username, change a role, remove;
the last owner stays; invitation links are signed, expire, work once. Every change is a
POST with its CSRF token, and a problem is shown without changing anything."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client

from console import members
from console.models import INVITATION_LIFETIME, Role, StudyInvitation, StudyMembership

from .conftest import member, researcher

pytestmark = pytest.mark.django_db


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def roles(study) -> dict[str, str]:
    return {
        m.user.username: m.role
        for m in StudyMembership.objects.filter(study=study).select_related("user")
    }


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_an_owner_adds_changes_and_removes_members(study, owner):
    researcher("eddie")
    client = client_of(owner)
    base = f"/console/{study.name}/members/"
    page = client.post(base + "add/", {"username": "eddie", "role": "editor"}, follow=True)
    assert "eddie is now a member (editor)" in messages_of(page)
    eddie = StudyMembership.objects.get(study=study, user__username="eddie")
    assert eddie.added_by == owner
    assert roles(study) == {"olivia": "owner", "eddie": "editor"}
    client.post(f"{base}{eddie.user_id}/role/", {"role": "viewer"})
    assert roles(study)["eddie"] == "viewer"
    client.post(f"{base}{eddie.user_id}/remove/")
    assert roles(study) == {"olivia": "owner"}


def test_problems_are_shown_and_change_nothing(study, owner):
    client = client_of(owner)
    base = f"/console/{study.name}/members/"
    cases = [
        (
            base + "add/",
            {"username": "nobody", "role": "viewer"},
            "no active researcher is called 'nobody'",
        ),
        (base + "add/", {"username": "olivia", "role": "viewer"}, "already a member (owner)"),
        (base + "add/", {"username": "olivia", "role": "boss"}, "role: 'boss' is not a role"),
        (f"{base}{owner.pk}/role/", {"role": "viewer"}, "olivia is the study's last owner"),
        (f"{base}{owner.pk}/remove/", {}, "last owner and cannot be removed"),
        (f"{base}99999/remove/", {}, "not a member of this study"),
    ]
    for url, data, problem in cases:
        page = client.post(url, data, follow=True)
        assert any(problem in m for m in messages_of(page)), (url, messages_of(page))
        assert roles(study) == {"olivia": "owner"}


def test_with_a_second_owner_the_first_may_step_down_and_leave(study, owner):
    second = member(study, "otto", Role.OWNER)
    client = client_of(owner)
    client.post(f"/console/{study.name}/members/{owner.pk}/role/", {"role": "editor"})
    assert roles(study) == {"olivia": "editor", "otto": "owner"}
    # now otto is the last owner
    members.change_role(study, owner.pk, "owner")
    response = client.post(f"/console/{study.name}/members/{owner.pk}/remove/")
    assert response["Location"] == "/console/"  # gone from the study: back to the list
    assert roles(study) == {"otto": "owner"}
    assert client.get(f"/console/{study.name}/").status_code == 404
    assert second


def test_editors_and_viewers_see_the_members_but_may_not_change_them(study, owner):
    researcher("newbie")
    for role in (Role.EDITOR, Role.VIEWER):
        user = member(study, f"a-{role.value}", role)
        client = client_of(user)
        page = client.get(f"/console/{study.name}/members/")
        assert page.status_code == 200 and "olivia" in page.content.decode()
        assert 'id="add-member"' not in page.content.decode()
        response = client.post(
            f"/console/{study.name}/members/add/", {"username": "newbie", "role": "owner"}
        )
        assert response.status_code == 404
        assert (
            client.post(f"/console/{study.name}/invitations/", {"role": "owner"}).status_code == 404
        )
    assert "newbie" not in roles(study)
    assert not StudyInvitation.objects.exists()


def test_every_change_needs_its_csrf_token(study, owner):
    researcher("eddie")
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    url = f"/console/{study.name}/members/add/"
    assert client.post(url, {"username": "eddie", "role": "viewer"}).status_code == 403
    assert "eddie" not in roles(study)
    page = client.get(f"/console/{study.name}/members/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    client.post(url, {"username": "eddie", "role": "viewer", "csrfmiddlewaretoken": token})
    assert roles(study)["eddie"] == "viewer"


def test_members_may_not_be_changed_with_get(study, owner):
    client = client_of(owner)
    assert client.get(f"/console/{study.name}/members/{owner.pk}/remove/").status_code == 405
    assert client.get(f"/console/{study.name}/invitations/").status_code == 405
    assert roles(study) == {"olivia": "owner"}


def _invite(client, study, role="editor") -> str:
    page = client.post(f"/console/{study.name}/invitations/", {"role": role}, follow=True)
    (shown,) = [m for m in messages_of(page) if "Invitation link" in m]
    return re.search(r"(/accounts/invitations/[^/]+/)", shown)[1]


def test_an_invitation_link_lets_one_researcher_join_once(study, owner):
    link = _invite(client_of(owner), study, "editor")
    newcomer = researcher("nina")
    client = client_of(newcomer)
    offer = client.get(link)
    assert offer.status_code == 200 and "as <strong>editor</strong>" in offer.content.decode()
    joined = client.post(link)
    assert joined["Location"] == f"/console/{study.name}/"
    assert roles(study)["nina"] == "editor"
    assert client.get(f"/console/{study.name}/").status_code == 200
    # used up: a second researcher gets a reason, and nothing changes
    late = client_of(researcher("leo"))
    for response in (late.get(link), late.post(link)):
        assert response.status_code == 404
        assert "already used" in response.content.decode()
    assert "leo" not in roles(study)


def test_anonymous_visitors_log_in_before_they_see_an_invitation(study, owner):
    link = _invite(client_of(owner), study)
    response = Client().get(link)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    assert not StudyInvitation.objects.get().used_at


def test_forged_expired_and_withdrawn_links_are_refused(study, owner, monkeypatch):
    owner_client = client_of(owner)
    link = _invite(owner_client, study)
    client = client_of(researcher("nina"))
    forged = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
    assert "not a valid invitation link" in client.post(forged).content.decode()

    later = time.time() + INVITATION_LIFETIME.total_seconds() + 60
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    assert "has expired" in client.post(link).content.decode()
    monkeypatch.undo()

    invitation = StudyInvitation.objects.get()
    owner_client.post(f"/console/{study.name}/invitations/{invitation.pk}/revoke/")
    assert "withdrawn" in client.post(link).content.decode()
    assert roles(study) == {"olivia": "owner"}


def test_a_member_cannot_take_a_second_role_by_invitation(study, owner):
    link = _invite(client_of(owner), study, "owner")
    viewer = member(study, "vic", Role.VIEWER)
    response = client_of(viewer).post(link)
    assert response.status_code == 409 and "already a member" in response.content.decode()
    assert roles(study)["vic"] == "viewer"
    assert StudyInvitation.objects.get().used_at is None  # still usable by someone else


def test_pending_invitations_are_listed_for_owners_only(study, owner):
    client = client_of(owner)
    _invite(client, study, "viewer")
    page = client.get(f"/console/{study.name}/members/").content.decode()
    assert 'id="invitations"' in page
    viewer = member(study, "vic", Role.VIEWER)
    assert (
        'id="invitations"'
        not in client_of(viewer).get(f"/console/{study.name}/members/").content.decode()
    )
