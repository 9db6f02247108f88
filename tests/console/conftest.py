"""Researchers with roles in a study, for the console's tests."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from console.models import Role, StudyMembership
from tests.factories import make_study

PASSWORD = "a-long-test-password-7"


def researcher(username: str, *, staff: bool = False):
    return get_user_model().objects.create_user(
        username, f"{username}@example.org", PASSWORD, is_staff=staff
    )


def member(study, username: str, role: Role):
    user = researcher(username)
    StudyMembership.objects.create(study=study, user=user, role=role)
    return user


@pytest.fixture
def study():
    return make_study(n_batches=1, slots=1)


@pytest.fixture
def owner(study):
    return member(study, "olivia", Role.OWNER)


@pytest.fixture
def stranger():
    """A researcher who is a member of no study."""
    return researcher("sam")
