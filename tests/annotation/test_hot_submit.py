"""PostgreSQL's one-round-trip submit (annotation/hot_submit.py) stores what the ORM path
stores, writes the lease rows when the ORM path would, and hands every submit it cannot
store to the ORM path, which refuses it for the right reason."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation import hot_path, hot_submit, prepared, services
from annotation.assignment import lease_length, request_work
from annotation.models import Assignment, BatchSlot, Judgment
from annotation.services import (
    JudgmentRefused,
    get_or_create_participant,
    next_entry,
    record_judgment,
)
from tests.factories import make_study

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

# Everything but ids, which differ between two studies.
COMPARED = ("position", "values", "rationales", "time_on_item_ms", "client_time_refused")


def _judge_batch(study, name: str, when) -> list[Judgment]:
    participant = get_or_create_participant(study, name, "cookie")
    assignment = request_work(participant, when).assignment
    for step in range(3):
        entry = next_entry(assignment)
        record_judgment(
            participant,
            entry_id=entry.id,
            values={"empathy": 40 + step},
            rationales={},
            idempotency_key=f"{name}-{step}",
            time_on_item_ms=10**9,  # clamped to a day by both paths
            client_time_refused="x" * 80,  # cut to the column by both paths
            now=when + timedelta(seconds=step),
        )
    return list(Judgment.objects.filter(participant=participant).order_by("position"))


def test_it_is_the_path_taken_on_postgresql_and_stores_what_the_orm_path_stores(monkeypatch):
    assert hot_submit.available()
    when = timezone.now()
    fast = _judge_batch(make_study(n_batches=1, slots=1, batch_length=3), "fast", when)
    monkeypatch.setattr(hot_submit, "available", lambda: False)
    orm = _judge_batch(make_study(n_batches=1, slots=1, batch_length=3), "orm", when)
    assert [[getattr(j, f) for f in COMPARED] for j in fast] == [
        [getattr(j, f) for f in COMPARED] for j in orm
    ]
    assert fast[0].time_on_item_ms == 24 * 3600 * 1000 and len(fast[0].client_time_refused) == 64
    for judgments in (fast, orm):
        assert [j.server_received_at - when for j in judgments] == [
            timedelta(seconds=s) for s in range(3)
        ]
        assignment = judgments[0].assignment
        assert assignment.status == Assignment.Status.COMPLETED
        assert assignment.completed_at == when + timedelta(seconds=2)
        assert assignment.slot.state == BatchSlot.State.COMPLETED
        assert assignment.slot.lease_expires_at is None
        assert {j.slot_id for j in judgments} == {assignment.slot_id}
        assert {j.batch_id for j in judgments} == {assignment.slot.batch_id}


def test_the_lease_is_renewed_when_the_orm_path_would_renew_it():
    study = make_study(n_batches=1, slots=1, batch_length=4, lease_minutes=60)
    participant = get_or_create_participant(study, "p", "cookie")
    start = timezone.now()
    assignment = request_work(participant, start).assignment
    full = lease_length(study)

    def submit(step: int, at):
        entry = next_entry(assignment)
        record_judgment(
            participant,
            entry_id=entry.id,
            values={"empathy": 50},
            rationales={},
            idempotency_key=f"k{step}",
            now=at,
        )
        assignment.refresh_from_db()
        assignment.slot.refresh_from_db()
        return assignment.lease_expires_at, assignment.slot.lease_expires_at

    # the short first lease: the first judgment gives the full length
    assert submit(0, start) == (start + full, start + full)
    # more than half left: nothing written
    assert submit(1, start + timedelta(minutes=20)) == (start + full, start + full)
    # less than half left: renewed from now
    later = start + timedelta(minutes=45)
    assert submit(2, later) == (later + full, later + full)
    assert assignment.status == Assignment.Status.ACTIVE


def test_a_usual_submit_is_one_statement_after_the_participant():
    study = make_study(n_batches=1, slots=1, batch_length=3)
    participant = get_or_create_participant(study, "p", "cookie")
    assignment = request_work(participant).assignment
    entry = next_entry(assignment)
    with CaptureQueriesContext(connection) as queries:
        record_judgment(
            participant,
            entry_id=entry.id,
            values={"empathy": 1},
            rationales={},
            idempotency_key="a",
        )
    sent = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(sent) == 1 and "FOR UPDATE OF" in sent[0] and "INSERT INTO" in sent[0]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("out_of_order", "unexpected_item"),
        ("forged", "unexpected_item"),
        ("no_lease", "no_assignment"),
        ("bad_value", "invalid"),
        ("done", "no_assignment"),  # a completed batch holds no lease
    ],
)
def test_what_it_cannot_store_the_orm_path_refuses_for_the_right_reason(case, code):
    study = make_study(n_batches=1, slots=1, batch_length=2)
    participant = get_or_create_participant(study, "p", "cookie")
    assignment = request_work(participant).assignment
    entry = next_entry(assignment)
    entry_id, values = entry.id, {"empathy": 50}
    if case == "out_of_order":
        entry_id = entry.id + 1
    elif case == "forged":
        entry_id = 10**9
    elif case == "no_lease":
        BatchSlot.objects.filter(id=assignment.slot_id).update(
            state=BatchSlot.State.FREE, participant=None
        )
    elif case == "bad_value":
        values = {"empathy": 500}
    elif case == "done":
        for step in range(2):
            record_judgment(
                participant,
                entry_id=next_entry(assignment).id,
                values=values,
                rationales={},
                idempotency_key=f"done-{step}",
            )
    before = Judgment.objects.count()
    with pytest.raises(JudgmentRefused) as refused:
        record_judgment(
            participant, entry_id=entry_id, values=values, rationales={}, idempotency_key="z"
        )
    assert refused.value.code == code
    assert Judgment.objects.count() == before


def test_a_replayed_key_is_answered_with_the_stored_judgment():
    study = make_study(n_batches=1, slots=1, batch_length=3)
    participant = get_or_create_participant(study, "p", "cookie")
    entry = next_entry(request_work(participant).assignment)
    sent = dict(entry_id=entry.id, values={"empathy": 9}, rationales={}, idempotency_key="same")
    first = record_judgment(participant, **sent)
    again = record_judgment(participant, **sent)
    assert first.created and not again.created and again.judgment.id == first.judgment.id
    with pytest.raises(JudgmentRefused) as refused:
        record_judgment(participant, **{**sent, "values": {"empathy": 10}})
    assert refused.value.code == "key_conflict"
    assert Judgment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_connections_submitting_the_same_item_store_it_once():
    """Two tabs of one participant, each with its own key, at the same moment: the lock
    serialises them, the second sees the first's judgment (its own statement's snapshot
    starts after the lock) or hits the unique index, and is refused either way."""
    study = make_study(n_batches=1, slots=1, batch_length=3)
    participant = get_or_create_participant(study, "p", "cookie")
    entry = next_entry(request_work(participant).assignment)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def tab(key: str) -> None:
        try:
            barrier.wait()
            record_judgment(
                participant,
                entry_id=entry.id,
                values={"empathy": 5},
                rationales={},
                idempotency_key=key,
            )
            outcomes.append("stored")
        except JudgmentRefused as refused:
            outcomes.append(refused.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=tab, args=(k,)) for k in ("tab-a", "tab-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (["stored", "unexpected_item"], ["duplicate", "stored"])
    assert Judgment.objects.filter(entry=entry).count() == 1


def test_the_submit_path_is_chosen_by_the_database(monkeypatch):
    """With a server-binding cursor (one statement per query) the ORM path is taken."""
    calls = []
    monkeypatch.setattr(hot_submit, "record", lambda *a, **k: calls.append(1))
    monkeypatch.setattr(hot_submit, "available", lambda: False)
    study = make_study(n_batches=1, slots=1, batch_length=2)
    participant = get_or_create_participant(study, "p", "cookie")
    entry = next_entry(request_work(participant).assignment)
    stored = services.record_judgment(
        participant, entry_id=entry.id, values={"empathy": 3}, rationales={}, idempotency_key="o"
    )
    assert stored.created and not calls


def _prepared_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


def test_with_the_pool_the_submit_is_prepared_once_per_connection_and_again_if_dropped(
    monkeypatch,
):
    monkeypatch.setattr(prepared, "uses_prepared", lambda: True)
    prepared.forget()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    when = timezone.now()
    stored = _judge_batch(make_study(n_batches=1, slots=1, batch_length=3), "prep", when)
    assert [j.values["empathy"] for j in stored] == [40, 41, 42]
    names = {hot_submit._PREPARED, hot_submit._PREPARED + "_lock"}
    assert names <= _prepared_names()
    with CaptureQueriesContext(connection) as queries:  # prepared already: no PREPARE
        _judge_batch(make_study(n_batches=1, slots=1, batch_length=3), "again", when)
    sent = [q["sql"] for q in queries if hot_submit._PREPARED in q["sql"]]
    assert len(sent) == 3 and all(s.startswith("EXECUTE") for s in sent)
    # Dropped behind its back (a DISCARD ALL, say): prepared again, the submit still stored.
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    third = _judge_batch(make_study(n_batches=1, slots=1, batch_length=3), "dropped", when)
    assert len(third) == 3 and names <= _prepared_names()


def test_with_the_pool_the_annotators_read_is_prepared_too(monkeypatch):
    monkeypatch.setattr(prepared, "uses_prepared", lambda: True)
    prepared.forget()
    study = make_study(n_batches=1, slots=1, batch_length=3)
    participant = get_or_create_participant(study, "reader", "cookie")
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    for _ in range(2):  # prepared, then (dropped behind its back) prepared again
        with CaptureQueriesContext(connection) as queries:
            found = hot_path.participant_with_study(study.name, "reader")
        assert found is not None and found.pk == participant.pk and found.study.pk == study.pk
        assert any(q["sql"].startswith("EXECUTE " + hot_path._PARTICIPANT) for q in queries)
        assert hot_path._PARTICIPANT in _prepared_names()
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
    assert hot_path.participant_with_study(study.name, "nobody") is None


def test_without_the_pool_the_plain_statement_is_sent(monkeypatch):
    monkeypatch.setattr(prepared, "uses_prepared", lambda: False)
    with CaptureQueriesContext(connection) as queries:
        stored = _judge_batch(
            make_study(n_batches=1, slots=1, batch_length=3), "plain", timezone.now()
        )
    assert len(stored) == 3
    assert not any(hot_submit._PREPARED in q["sql"] for q in queries)


def test_a_judgment_writes_no_index_that_no_query_reads():
    """Every index of the judgment table is one more write in each submit: the assignment's
    lookups are served by judgment_once_per_entry (assignment first), and no key is searched
    with LIKE (unique=True on a CharField would add a varchar_pattern_ops index for that)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = %s", [Judgment._meta.db_table]
        )
        definitions = [row[0] for row in cursor.fetchall()]
    assert not [d for d in definitions if "pattern_ops" in d]
    leading_assignment = [d for d in definitions if re.search(r'\("?assignment_id"?[,)]', d)]
    assert len(leading_assignment) == 1 and "UNIQUE" in leading_assignment[0]
    keys = [d for d in definitions if "idempotency_key" in d]
    assert len(keys) == 1 and "UNIQUE" in keys[0]
