"""Assignment with leases: resume, revive, expiry, no output twice, slot limits."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation.assignment import request_work, slot_counts
from annotation.models import Assignment, BatchSlot, Judgment
from annotation.services import get_or_create_participant, next_entry, record_judgment
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def participant(study, name):
    return get_or_create_participant(study, name, "cookie")


def judge_all(p, assignment, now=None):
    while (entry := next_entry(assignment)) is not None:
        record_judgment(
            p,
            entry_id=entry.id,
            values={"empathy": 50},
            rationales={},
            idempotency_key=f"{p.external_id}-{entry.id}",
            now=now,
        )
        assignment.refresh_from_db()


def test_a_participant_gets_their_own_live_lease_back():
    study = make_study()
    p = participant(study, "p1")
    first = request_work(p)
    again = request_work(p)
    assert first.reason == "new" and again.reason == "resumed"
    assert first.assignment.id == again.assignment.id
    assert Assignment.objects.filter(participant=p, status="active").count() == 1


def test_slots_are_handed_out_breadth_first_and_run_out():
    study = make_study(n_batches=2, slots=2)
    results = [request_work(participant(study, f"p{i}")) for i in range(5)]
    batches = [r.assignment.slot.batch.index for r in results[:4]]
    assert batches == [0, 1, 0, 1]
    assert results[4].assignment is None and results[4].reason == "none_left"
    for counts in slot_counts(study).values():
        assert counts["leased"] == 2 and counts["free"] == 0


def test_nobody_gets_an_output_they_have_seen():
    study = make_study(n_batches=2, slots=2, shared_outputs=True)
    p = participant(study, "p1")
    work = request_work(p)
    judge_all(p, work.assignment)
    # Both batches hold the same outputs: the second one must not be offered.
    assert request_work(p).assignment is None
    other = request_work(participant(study, "p2"))
    assert other.assignment is not None


def test_expired_lease_returns_to_the_pool_and_keeps_partial_work_labelled():
    study = make_study(n_batches=1, slots=1, lease_minutes=30)
    p1 = participant(study, "p1")
    start = timezone.now()
    work = request_work(p1, now=start)
    entry = next_entry(work.assignment)
    record_judgment(
        p1,
        entry_id=entry.id,
        values={"empathy": 10},
        rationales={},
        idempotency_key="k1",
        now=start,
    )
    later = start + timedelta(minutes=31)
    p2 = participant(study, "p2")
    taken = request_work(p2, now=later)
    assert taken.assignment is not None and taken.assignment.slot_id == work.assignment.slot_id
    work.assignment.refresh_from_db()
    assert work.assignment.status == "expired"
    partial = Judgment.objects.get(idempotency_key="k1")
    assert partial.assignment.status == "expired"
    # The newcomer starts at the first item: the partial work is not theirs.
    assert next_entry(taken.assignment).position == 0
    # The first participant cannot get the same batch back now, and nothing else is free.
    assert request_work(p1, now=later).assignment is None


def test_coming_back_after_expiry_revives_the_same_slot_when_free():
    study = make_study(n_batches=1, slots=1, lease_minutes=5)
    p1 = participant(study, "p1")
    start = timezone.now()
    work = request_work(p1, now=start)
    entry = next_entry(work.assignment)
    record_judgment(
        p1,
        entry_id=entry.id,
        values={"empathy": 10},
        rationales={},
        idempotency_key="k1",
        now=start,
    )
    back = request_work(p1, now=start + timedelta(hours=2))
    assert back.reason == "revived" and back.assignment.id == work.assignment.id
    assert next_entry(back.assignment).position == 1


def test_completing_a_batch_completes_the_slot():
    study = make_study(n_batches=1, slots=1)
    p = participant(study, "p1")
    work = request_work(p)
    judge_all(p, work.assignment)
    slot = BatchSlot.objects.get(id=work.assignment.slot_id)
    assert slot.state == "completed"
    assert Assignment.objects.get(id=work.assignment.id).status == "completed"
    assert Judgment.objects.filter(assignment=work.assignment).count() == 3


def test_completed_slots_are_never_reopened_by_expiry():
    study = make_study(n_batches=1, slots=1, lease_minutes=1)
    p = participant(study, "p1")
    start = timezone.now()
    work = request_work(p, now=start)
    judge_all(p, work.assignment, now=start)
    assert request_work(participant(study, "p2"), now=start + timedelta(days=1)).assignment is None
