"""Researchers with personal API tokens, and a client that sends one."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from api.models import create_token

PASSWORD = "a-long-test-password-7"


def researcher(username: str, *, staff: bool = False):
    return get_user_model().objects.create_user(
        username, f"{username}@example.org", PASSWORD, is_staff=staff
    )


def token_client(user, name: str = "tests") -> Client:
    """A client whose every request carries a new token of ``user``."""
    _row, token = create_token(user, name)
    return Client(headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def rita(db):
    """A researcher (not staff) who makes studies through the API."""
    return researcher("rita")


@pytest.fixture
def api(rita) -> Client:
    return token_client(rita)


@pytest.fixture
def eager(settings):
    """Tasks run in this process, now, as on the embedded default (also when the session
    runs with a broker: no worker is started for these tests)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
