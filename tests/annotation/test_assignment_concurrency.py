"""Many participants asking for work at the same instant, on PostgreSQL's row locks.

Each thread has its own database connection (Django opens one per thread), and a barrier
releases them together, so the `SELECT … FOR UPDATE SKIP LOCKED` paths really race.
"""

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from annotation.assignment import request_work
from annotation.models import Assignment, BatchSlot
from annotation.services import get_or_create_participant
from tests.factories import make_study

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# PostgreSQL's default max_connections is 100: the main connection is closed while the
# threads run so that 100 of them can hold one each.
THREADS = 100


def _race(participants):
    barrier = threading.Barrier(len(participants))
    results, errors = [None] * len(participants), []

    def ask(i, participant):
        try:
            barrier.wait(timeout=60)
            results[i] = request_work(participant)
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask, args=(i, p)) for i, p in enumerate(participants)]
    connection.close()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:5]
    return results


def _assert_invariants(study):
    for batch in study.batches.all():
        held = BatchSlot.objects.filter(batch=batch).exclude(state="free").count()
        assert held <= batch.slots <= study.overlap
    active = Counter(
        Assignment.objects.filter(participant__study=study, status="active").values_list(
            "participant_id", flat=True
        )
    )
    assert all(n == 1 for n in active.values()), "somebody holds two live leases"
    leased_slots = Counter(
        Assignment.objects.filter(participant__study=study, status="active").values_list(
            "slot_id", flat=True
        )
    )
    assert all(n == 1 for n in leased_slots.values()), "a slot is held twice"


def test_100_participants_at_once_never_overfill_a_batch():
    study = make_study(n_batches=10, slots=3, batch_length=2)  # 30 slots, 100 people
    participants = [get_or_create_participant(study, f"p{i}", "prolific") for i in range(THREADS)]
    results = _race(participants)
    granted = [r for r in results if r is not None and r.assignment is not None]
    refused = [r for r in results if r is not None and r.assignment is None]
    assert len(granted) == 30 and len(refused) == THREADS - 30
    assert len({r.assignment.slot_id for r in granted}) == 30
    _assert_invariants(study)
    assert BatchSlot.objects.filter(batch__study=study, state="free").count() == 0


def test_the_same_participant_asking_twice_at_once_gets_one_lease():
    study = make_study(n_batches=60, slots=1, batch_length=1)
    participants = [
        get_or_create_participant(study, f"p{i}", "prolific") for i in range(THREADS // 2)
    ]
    results = _race(participants + participants)
    assert all(r is not None and r.assignment is not None for r in results)
    by_participant = {}
    for r in results:
        by_participant.setdefault(r.assignment.participant_id, set()).add(r.assignment.id)
    assert all(len(ids) == 1 for ids in by_participant.values())
    _assert_invariants(study)
    assert BatchSlot.objects.filter(batch__study=study, state="leased").count() == THREADS // 2


def test_skips_at_once_reassign_every_output_and_k_holds():
    """Annotators skipping distressing items at the same instant (annotation/safety.py):
    every skip gets its own reassigned batch, the planned judgments per output stay k, and
    when everyone has worked through, every output has exactly k judgments."""
    from django.utils import timezone

    from annotation import safety
    from annotation.models import Judgment, Study
    from annotation.services import next_entry, record_judgment

    study = make_study(n_batches=20, slots=2, batch_length=2)
    spec = dict(study.spec, annotator_safety={"skip_distressing": True})
    Study.objects.filter(pk=study.pk).update(spec=spec)
    study.refresh_from_db()
    first = [get_or_create_participant(study, f"p{i}", "prolific") for i in range(40)]
    for p in first:
        assert request_work(p).assignment is not None
    barrier = threading.Barrier(len(first))
    errors = []

    def skip_then_judge(participant):
        try:
            participant.study = study
            barrier.wait(timeout=60)
            live = Assignment.objects.get(participant=participant, status="active")
            entry = next_entry(live, study)
            assert safety.skip_item(participant, entry.id, timezone.now()).code == "skipped"
            live = Assignment.objects.get(participant=participant, status="active")
            entry = next_entry(live, study)
            record_judgment(
                participant,
                entry_id=entry.id,
                values={"empathy": 50},
                rationales={},
                idempotency_key=f"{participant.id}:{entry.id}",
            )
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(repr(error))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=skip_then_judge, args=(p,)) for p in first]
    connection.close()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:5]
    assert set(safety.owed_judgments(study).values()) == {study.overlap}
    _assert_invariants(study)
    # newcomers take the 40 reassigned one-item batches, all at once
    newcomers = [get_or_create_participant(study, f"n{i}", "prolific") for i in range(40)]
    results = _race(newcomers)
    assert all(r.assignment is not None for r in results)
    for r in results:
        p = r.assignment.participant
        entry = next_entry(r.assignment, study)
        record_judgment(
            p, entry_id=entry.id, values={"empathy": 60}, rationales={}, idempotency_key=f"n{p.id}"
        )
    per_output = Counter(
        Judgment.objects.filter(study=study).values_list("item__output_key", flat=True)
    )
    assert len(per_output) == 40 and set(per_output.values()) == {study.overlap}
    _assert_invariants(study)
