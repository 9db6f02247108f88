"""Who may do what: the role table of console.access, staff, and the list of studies."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404
from django.test import RequestFactory

from console.access import ACTIONS, can, study_for, visible_studies
from console.models import Role, StudyMembership
from tests.factories import make_study

from .conftest import member, researcher

pytestmark = pytest.mark.django_db

# action -> the roles allowed it (the table, written out again on purpose)
EXPECTED = {
    "view": {"owner", "editor", "viewer"},
    "edit": {"owner", "editor"},
    "manage": {"owner"},
    "delete": {"owner"},
}


def test_each_role_may_do_what_the_table_says_and_no_more(study):
    users = {role.value: member(study, f"u-{role.value}", role) for role in Role}
    for action, allowed in EXPECTED.items():
        for role, user in users.items():
            assert can(user, study, action) is (role in allowed), (role, action)
    assert set(ACTIONS) == set(EXPECTED)


def test_staff_may_do_everything_and_strangers_anonymous_or_inactive_nothing(study, stranger):
    staff = researcher("stella", staff=True)
    gone = member(study, "gone", Role.OWNER)
    gone.is_active = False
    gone.save()
    for action in EXPECTED:
        assert can(staff, study, action)
        assert not can(stranger, study, action)
        assert not can(AnonymousUser(), study, action)
        assert not can(gone, study, action)


def test_a_role_in_one_study_gives_nothing_in_another(study):
    user = member(study, "owner-here", Role.OWNER)
    other = make_study()
    assert not can(user, other, "view")
    assert list(visible_studies(user)) == [study]


def test_study_for_is_404_for_a_non_member_and_for_a_missing_study(study, stranger, owner):
    request = RequestFactory().get("/")
    request.user = stranger
    with pytest.raises(Http404):
        study_for(request, study.name)
    request.user = owner
    assert study_for(request, study.name, "manage") == study
    with pytest.raises(Http404):
        study_for(request, "no-such-study")


def test_an_unknown_action_is_a_programming_error(study, owner):
    with pytest.raises(ValueError, match="unknown action 'publish'"):
        can(owner, study, "publish")


def test_visible_studies_are_the_members_newest_first_and_all_for_staff(stranger):
    first, second, third = make_study(), make_study(), make_study()
    user = researcher("vera")
    for s in (first, second):
        StudyMembership.objects.create(study=s, user=user, role=Role.VIEWER)
    assert list(visible_studies(user)) == [second, first]
    assert list(visible_studies(stranger)) == []
    assert list(visible_studies(AnonymousUser())) == []
    assert set(visible_studies(researcher("boss", staff=True))) == {first, second, third}
