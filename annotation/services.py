"""Writes that touch the ORM: recording judgments, participants' progress steps.

Creating a study from a spec lives in `study_builder.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import assignment as assignment_module
from . import hot_path, hot_submit, progress_events
from .answers import clean_answers
from .models import Assignment, BatchEntry, BatchSlot, Judgment, Participant


class JudgmentRefused(Exception):
    """A submit that cannot be accepted; nothing was stored. `problems` say why."""

    def __init__(self, problems: list[str], code: str = "invalid") -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.code = code


@dataclass(frozen=True)
class RecordedJudgment:
    judgment: Judgment
    created: bool  # False when the same idempotency key was seen before
    batch_completed: bool
    # The entry expected after this one, ready for display (``with_next``), or None: the
    # submit's answer can be the next item itself, with no second request.
    next_entry: BatchEntry | None = None


def next_entries(assignment: Assignment, limit: int = 1, *, study=None) -> list[BatchEntry]:
    """The entries the server expects next, in order: those of the batch without a judgment
    in this assignment. One statement; with `study` each comes ready for display (see
    `hot_path`: item, context, candidates and ``entry.batch_length``)."""
    return hot_path.next_entries(assignment, limit, study=study)


def next_entry(assignment: Assignment, study=None) -> BatchEntry | None:
    """The entry the server expects next: the first one without a judgment in this assignment."""
    upcoming = next_entries(assignment, study=study or assignment.participant.study)
    return upcoming[0] if upcoming else None


def record_judgment(
    participant: Participant,
    *,
    entry_id: int | None,
    values: dict,
    rationales: dict | None,
    idempotency_key: str,
    time_on_item_ms: int | None = None,
    client_submitted_at: datetime | None = None,
    client_time_refused: str = "",
    now: datetime | None = None,
    with_next: bool = False,
) -> RecordedJudgment:
    """Store one judgment, exactly once; refuse anything but the expected item.

    A repeated submit with the same `idempotency_key` and the same answers returns the
    stored judgment; the same key with different answers is refused (``key_conflict``).
    On PostgreSQL the usual submit is one query string (`hot_submit`); elsewhere it is four
    statements (lock the lease, read the next entries, insert, and — when less than half
    the lease is left or the batch is done — the lease rows);
    the key is looked up only when a submit cannot be stored as it stands. With
    `with_next`, the entries read are read for display, so the result carries the next
    entry (``next_entry``) at no extra statement.
    """
    now = now or timezone.now()
    key = (idempotency_key or "").strip()
    if not key or len(key) > 100:
        raise JudgmentRefused(["idempotency key missing or longer than 100 characters"], "bad_key")
    # The same submit for both paths (positional: their signatures are the same).
    submitted = (
        participant,
        entry_id,
        values,
        rationales,
        key,
        time_on_item_ms,
        client_submitted_at,
        client_time_refused,
        now,
        with_next,
    )
    try:
        fast = _record_in_one_round_trip(*submitted) if hot_submit.available() else None
        if fast is not None:
            return fast
        with transaction.atomic():
            return _record(*submitted)
    except JudgmentRefused:
        # A retry of a submit that was stored (network retry, reload, the busy page's
        # replay) finds the batch moved on: it is answered with what was stored.
        stored = _stored_with_key(participant, key, values, rationales)
        if stored is not None:
            return stored
        raise
    except IntegrityError:
        # A concurrent submit with the same key (double click on two connections) won.
        stored = _stored_with_key(participant, key, values, rationales)
        if stored is not None:
            return stored
        raise JudgmentRefused(["this item was already judged"], "duplicate") from None


def _stored_with_key(
    participant: Participant, key: str, values: dict, rationales: dict | None
) -> RecordedJudgment | None:
    judgment = Judgment.objects.filter(idempotency_key=key).select_related("assignment").first()
    if judgment is None:
        return None
    if judgment.participant_id != participant.id:
        raise JudgmentRefused(["idempotency key belongs to another submission"], "bad_key")
    answers = clean_answers(
        hot_path.dimension_types(participant.study), values or {}, rationales or {}
    )
    if not answers.ok or (answers.values, answers.rationales) != (
        judgment.values,
        judgment.rationales or {},
    ):
        raise JudgmentRefused(
            [
                "these answers were sent again with different values; the answers saved "
                "first are kept"
            ],
            "key_conflict",
        )
    done = judgment.assignment.status == Assignment.Status.COMPLETED
    return RecordedJudgment(judgment, created=False, batch_completed=done)


def _record(
    participant,
    entry_id,
    values,
    rationales,
    key,
    time_on_item_ms,
    client_submitted_at,
    client_time_refused,
    now,
    with_next=False,
):
    live = assignment_module.locked_live_assignment(participant)
    if live is None:
        raise JudgmentRefused(
            ["you hold no batch at the moment (the lease may have expired): reload the page"],
            "no_assignment",
        )
    upcoming = next_entries(live, limit=2, study=participant.study if with_next else None)
    if not upcoming:
        raise JudgmentRefused(["this batch is already complete"], "complete")
    expected = upcoming[0]
    if entry_id is None or int(entry_id) != expected.id:
        raise JudgmentRefused(
            [f"item {entry_id} is not the item expected next (position {expected.position + 1})"],
            "unexpected_item",
        )
    study = participant.study
    answers = clean_answers(hot_path.dimension_types(study), values or {}, rationales or {})
    if not answers.ok:
        raise JudgmentRefused(answers.problems, "invalid")
    judgment = Judgment.objects.create(
        assignment=live,
        batch_id=live.slot.batch_id,
        slot_id=live.slot_id,
        entry=expected,
        item_id=expected.item_id,
        position=expected.position,
        **_stored_fields(
            participant,
            answers,
            key,
            time_on_item_ms,
            client_submitted_at,
            client_time_refused,
            now,
        ),
    )
    completed = len(upcoming) == 1
    if completed:
        Assignment.objects.filter(id=live.id).update(
            status=Assignment.Status.COMPLETED, completed_at=now
        )
        live.status, live.completed_at = Assignment.Status.COMPLETED, now
        BatchSlot.objects.filter(id=live.slot_id).update(
            state=BatchSlot.State.COMPLETED, lease_expires_at=None
        )
    else:
        assignment_module.extend_lease(live, study, now)
    transaction.on_commit(lambda: notify_progress(study.name))
    following = upcoming[1] if with_next and not completed else None
    return RecordedJudgment(judgment, created=True, batch_completed=completed, next_entry=following)


def _stored_fields(
    participant, answers, key, time_on_item_ms, client_submitted_at, client_time_refused, now
) -> dict:
    """The judgment's columns that do not come from the lease, as both paths store them."""
    if time_on_item_ms is not None:
        time_on_item_ms = max(0, min(int(time_on_item_ms), 24 * 3600 * 1000))
    return {
        "study_id": participant.study_id,
        "participant_id": participant.id,
        "values": answers.values,
        "rationales": answers.rationales,
        "time_on_item_ms": time_on_item_ms,
        "client_submitted_at": client_submitted_at,
        "client_time_refused": client_time_refused[:64],
        "server_received_at": now,
        "idempotency_key": key,
    }


def _record_in_one_round_trip(
    participant,
    entry_id,
    values,
    rationales,
    key,
    time_on_item_ms,
    client_submitted_at,
    client_time_refused,
    now,
    with_next,
) -> RecordedJudgment | None:
    """PostgreSQL's submit (`hot_submit`): the judgment stored, or None for the ORM path
    (answers to correct, or a submit that is not the expected one: that path says why)."""
    answers = clean_answers(
        hot_path.dimension_types(participant.study), values or {}, rationales or {}
    )
    if entry_id is None or not answers.ok:
        return None
    fields = _stored_fields(
        participant, answers, key, time_on_item_ms, client_submitted_at, client_time_refused, now
    )
    stored = hot_submit.record(
        participant, entry_id=int(entry_id), fields=fields, now=now, with_next=with_next
    )
    if stored is None:
        return None
    judgment, completed, following = stored
    study_name = participant.study.name
    transaction.on_commit(lambda: notify_progress(study_name))
    return RecordedJudgment(judgment, created=True, batch_completed=completed, next_entry=following)


def notify_progress(study_name: str) -> None:
    """Tell researchers' open progress pages that something changed (best effort, throttled
    per study: see `progress_events`)."""
    progress_events.progress_changed(study_name)


def get_or_create_participant(
    study,
    external_id: str,
    source: str,
    *,
    platform_study_id: str = "",
    platform_session_id: str = "",
    user_agent: str = "",
    consented_at: datetime | None = None,
    warning_acknowledged_at: datetime | None = None,
) -> Participant:
    """The study's participant with this id, registered now if new (the annotator pages
    register on consent, with the steps taken before it)."""
    try:
        with transaction.atomic():
            participant, _ = Participant.objects.get_or_create(
                study=study,
                external_id=external_id,
                defaults={
                    "source": source,
                    "platform_study_id": platform_study_id[:200],
                    "platform_session_id": platform_session_id[:200],
                    "user_agent": user_agent.replace("\x00", "")[:1000],  # a header, not data
                    "consented_at": consented_at,
                    "warning_acknowledged_at": warning_acknowledged_at,
                },
            )
    except IntegrityError:  # two first requests at once
        participant = Participant.objects.get(study=study, external_id=external_id)
    return participant


def mark_step(participant: Participant, field: str) -> None:
    if getattr(participant, field) is None:
        setattr(participant, field, timezone.now())
        participant.save(update_fields=[field])
