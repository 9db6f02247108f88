"""The console's own login, logout and password change (not the admin's), and what a
researcher who is not staff sees once logged in."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from console.models import Role
from tests.factories import make_study

from .conftest import PASSWORD, member, researcher

pytestmark = pytest.mark.django_db


def test_the_console_asks_for_the_branded_login_and_comes_back_after_it(study):
    user = member(study, "rita", Role.VIEWER)
    client = Client()
    response = client.get(f"/console/{study.name}/")
    assert response["Location"] == f"{settings.LOGIN_URL}?next=/console/{study.name}/"
    page = client.get(response["Location"]).content.decode()
    assert "Log in to the evalsite console" in page and "Django administration" not in page
    wrong = client.post(settings.LOGIN_URL, {"username": "rita", "password": "nope"})
    assert (
        wrong.status_code == 200
        and "enter a correct username and password" in wrong.content.decode()
    )
    done = client.post(
        settings.LOGIN_URL,
        {"username": "rita", "password": PASSWORD, "next": f"/console/{study.name}/"},
    )
    assert done["Location"] == f"/console/{study.name}/"
    assert client.get(done["Location"]).status_code == 200
    assert user.is_staff is False


def test_a_researcher_sees_only_their_studies_and_no_admin_link(study):
    member(study, "rita", Role.EDITOR)
    other = make_study()
    client = Client()
    client.login(username="rita", password=PASSWORD)
    page = client.get("/console/").content.decode()
    assert f">{study.name}</a>" in page and other.name not in page
    assert 'href="/admin/"' not in page
    assert client.get(f"/console/{other.name}/").status_code == 404
    assert (
        'href="/admin/"'
        in _logged_in(researcher("stella", staff=True)).get("/console/").content.decode()
    )


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_researcher_with_no_study_is_told_how_to_join():
    page = _logged_in(researcher("new")).get("/console/").content.decode()
    assert "not a member of any study yet" in page


def test_logout_is_a_post_and_ends_the_session(study):
    client = _logged_in(member(study, "rita", Role.VIEWER))
    assert client.get("/accounts/logout/").status_code == 405
    assert client.get("/console/").status_code == 200
    response = client.post("/accounts/logout/")
    assert response["Location"] == settings.LOGOUT_REDIRECT_URL
    assert client.get("/console/").status_code == 302


def test_password_change_checks_the_old_password_and_the_validators():
    user = researcher("rita")
    client = _logged_in(user)
    assert "Change your password" in client.get("/accounts/password/").content.decode()
    weak = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": "123", "new_password2": "123"},
    )
    assert weak.status_code == 200 and "too short" in weak.content.decode()
    wrong_old = client.post(
        "/accounts/password/",
        {
            "old_password": "x",
            "new_password1": "a-new-long-pass-9",
            "new_password2": "a-new-long-pass-9",
        },
    )
    assert "old password was entered incorrectly" in wrong_old.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    done = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-long-pass-9",
            "new_password2": "a-new-long-pass-9",
        },
    )
    assert done["Location"] == "/accounts/password/done/"
    user.refresh_from_db()
    assert user.check_password("a-new-long-pass-9")
    assert client.get("/console/").status_code == 200  # still logged in after the change
