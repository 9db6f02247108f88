"""Two owners who remove each other at the same moment leave the study one owner: the
change holds the study's row lock while it counts the owners (PostgreSQL, real threads)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from console import members
from console.models import Role, StudyMembership

from .conftest import member

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_owners_removing_each_other_at_once_leave_one(study, monkeypatch):
    first, second = member(study, "ann", Role.OWNER), member(study, "bob", Role.OWNER)
    real_owners = members._owners

    def slow_owners(s):
        counted = real_owners(s)
        time.sleep(0.3)  # widen the window between counting and deleting
        return counted

    monkeypatch.setattr(members, "_owners", slow_owners)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def remove(user):
        try:
            start.wait(timeout=10)
            members.remove_member(study, user.pk)
            outcomes.append("removed")
        except members.MembershipError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=remove, args=(u,)) for u in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["refused", "removed"]
    assert StudyMembership.objects.filter(study=study, role=Role.OWNER).count() == 1
