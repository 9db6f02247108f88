"""Writes that touch the ORM: recording judgments, participants' progress steps.

Creating a study from a spec lives in `study_builder.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import assignment as assignment_module
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


def next_entry(assignment: Assignment) -> BatchEntry | None:
    """The entry the server expects next: the first one without a judgment in this assignment."""
    judged = assignment_module.judged_entry_ids(assignment)
    return (
        BatchEntry.objects.filter(batch_id=assignment.slot.batch_id)
        .exclude(id__in=judged)
        .select_related("item__context", "item__candidate", "item__candidate_right")
        .order_by("position")
        .first()
    )


def record_judgment(
    participant: Participant,
    *,
    entry_id: int,
    values: dict,
    rationales: dict | None,
    idempotency_key: str,
    time_on_item_ms: int | None = None,
    client_submitted_at: datetime | None = None,
    now: datetime | None = None,
) -> RecordedJudgment:
    """Store one judgment, exactly once; refuse anything but the expected item.

    A repeated submit with the same `idempotency_key` returns the stored judgment.
    """
    now = now or timezone.now()
    key = (idempotency_key or "").strip()
    if not key or len(key) > 100:
        raise JudgmentRefused(["idempotency key missing or longer than 100 characters"], "bad_key")

    stored = _stored_with_key(participant, key)
    if stored is not None:
        return stored
    try:
        with transaction.atomic():
            return _record(
                participant,
                entry_id,
                values,
                rationales,
                key,
                time_on_item_ms,
                client_submitted_at,
                now,
            )
    except IntegrityError:
        # A concurrent submit with the same key (double click on two connections) won.
        stored = _stored_with_key(participant, key)
        if stored is not None:
            return stored
        raise JudgmentRefused(["this item was already judged"], "duplicate") from None


def _stored_with_key(participant: Participant, key: str) -> RecordedJudgment | None:
    judgment = Judgment.objects.filter(idempotency_key=key).select_related("assignment").first()
    if judgment is None:
        return None
    if judgment.participant_id != participant.id:
        raise JudgmentRefused(["idempotency key belongs to another submission"], "bad_key")
    done = judgment.assignment.status == Assignment.Status.COMPLETED
    return RecordedJudgment(judgment, created=False, batch_completed=done)


def _record(
    participant, entry_id, values, rationales, key, time_on_item_ms, client_submitted_at, now
):
    lock = assignment_module._lock
    live = Assignment.objects.filter(
        participant=participant, status=Assignment.Status.ACTIVE
    ).first()
    if live is not None:
        # Lock order slot → assignment, the same order lease expiry uses, so a submit racing
        # an expiry waits instead of deadlocking; re-check the status under the lock.
        lock(BatchSlot.objects.filter(id=live.slot_id)).get()
        live = (
            lock(Assignment.objects.filter(id=live.id, status=Assignment.Status.ACTIVE))
            .select_related("slot__batch")
            .first()
        )
    if live is None:
        raise JudgmentRefused(
            ["you hold no batch at the moment (the lease may have expired): reload the page"],
            "no_assignment",
        )
    expected = next_entry(live)
    if expected is None:
        raise JudgmentRefused(["this batch is already complete"], "complete")
    if entry_id is None or int(entry_id) != expected.id:
        raise JudgmentRefused(
            [f"item {entry_id} is not the item expected next (position {expected.position + 1})"],
            "unexpected_item",
        )
    answers = clean_answers(participant.study.dimensions, values or {}, rationales or {})
    if not answers.ok:
        raise JudgmentRefused(answers.problems, "invalid")
    if time_on_item_ms is not None:
        time_on_item_ms = max(0, min(int(time_on_item_ms), 24 * 3600 * 1000))
    judgment = Judgment.objects.create(
        study_id=participant.study_id,
        assignment=live,
        participant=participant,
        batch_id=live.slot.batch_id,
        slot_id=live.slot_id,
        entry=expected,
        item_id=expected.item_id,
        position=expected.position,
        values=answers.values,
        rationales=answers.rationales,
        time_on_item_ms=time_on_item_ms,
        client_submitted_at=client_submitted_at,
        server_received_at=now,
        idempotency_key=key,
    )
    completed = next_entry(live) is None
    if completed:
        live.status = Assignment.Status.COMPLETED
        live.completed_at = now
        live.save(update_fields=["status", "completed_at"])
        BatchSlot.objects.filter(id=live.slot_id).update(
            state=BatchSlot.State.COMPLETED, lease_expires_at=None
        )
    else:
        assignment_module.extend_lease(live, now)
    transaction.on_commit(lambda: notify_progress(participant.study.name))
    return RecordedJudgment(judgment, created=True, batch_completed=completed)


def notify_progress(study_name: str) -> None:
    """Tell researchers' open progress pages that something changed (best effort)."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from .consumers import progress_group

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(progress_group(study_name), {"type": "progress.changed"})
    except Exception:  # noqa: BLE001 - a dead channel layer must not lose a judgment
        import logging

        logging.getLogger(__name__).warning("could not publish progress for %s", study_name)


def get_or_create_participant(
    study,
    external_id: str,
    source: str,
    *,
    platform_study_id: str = "",
    platform_session_id: str = "",
    user_agent: str = "",
) -> Participant:
    try:
        with transaction.atomic():
            participant, _ = Participant.objects.get_or_create(
                study=study,
                external_id=external_id,
                defaults={
                    "source": source,
                    "platform_study_id": platform_study_id[:200],
                    "platform_session_id": platform_session_id[:200],
                    "user_agent": user_agent[:1000],
                },
            )
    except IntegrityError:  # two first requests at once
        participant = Participant.objects.get(study=study, external_id=external_id)
    return participant


def mark_step(participant: Participant, field: str) -> None:
    if getattr(participant, field) is None:
        setattr(participant, field, timezone.now())
        participant.save(update_fields=[field])
