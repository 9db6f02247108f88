"""Two owners who remove each other at the same moment leave the study one owner (the
change holds the study's row lock while it counts the owners), and of two researchers who
open one invitation link at once one joins (PostgreSQL, real threads)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from console import members
from console.models import Role, StudyMembership

from .conftest import member, researcher

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


def test_two_researchers_opening_one_invitation_at_once_one_joins(study):
    owner = member(study, "ann", Role.OWNER)
    token = members.invitation_token(members.create_invitation(study, "viewer", by=owner))
    newcomers = [researcher("carl"), researcher("dora")]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def accept(user):
        try:
            start.wait(timeout=10)
            members.accept_invitation(token, user)
            outcomes.append("joined")
        except members.MembershipError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(u,)) for u in newcomers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcomes) == ["joined", "refused"]
    assert StudyMembership.objects.filter(study=study, role=Role.VIEWER).count() == 1
