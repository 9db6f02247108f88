"""Annotator safety (ProsocialDialog protected its workers from what they read): skipping a
distressing item, pausing, break reminders and a daily item cap. Spec: ``annotator_safety``.

**Skip.** A skip is an ``ItemSkip`` row, never a judgment: it is in no export or statistic
and counts for nothing in the decision. The skipped entry is passed over like a judged one
(the hot path's "next entries" leave out skipped entries too), so the annotator goes on with
the next item, and skipping the last one completes the batch. A real item's output goes to
someone else: in the same transaction a one-item batch with one slot (kind ``reassigned``)
is created for it, and assignment hands it out like any batch, to someone who has not seen
the output nor its context (its usual rules). So, per output, the planned judgments —
slots of the batches showing it, less the skips of it — stay k (``owed_judgments``), and
the completed judgments never pass k. Control items (attention, gold, degraded) are not
outputs and are not reassigned.

Why a batch of its own: batches are immutable and shared by their slots, so the output
cannot join another annotator's batch; a reassigned batch is a short one for whoever
asks next. Its index is ``REASSIGNED_BASE`` + the skip's id: unique without a lock on the
study, so skips never wait for each other.

**Pause, breaks, daily cap.** A pause keeps the annotator's place: their lease is extended
to the study's full length (and a lapsed lease is revived on return if nobody took the
slot, as always). A break reminder is shown once the annotator has worked
``break_reminder_minutes`` since the instructions, their last reminder or their return
from a pause (being away ``REST`` without a judgment counts as a break too). At ``daily_item_cap`` items (judged or skipped) in the last 24 hours the
annotator is asked to come back when the oldest of them is 24 hours old; their lease is
kept until then. Nothing here runs for a study without these settings (no query).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count

from . import assignment as assignment_module
from . import hot_path, progress_events
from .models import (
    Assignment,
    Batch,
    BatchEntry,
    BatchSlot,
    Item,
    ItemSkip,
    Judgment,
    Participant,
    SafetyEvent,
    Study,
)

__all__ = [
    "REASSIGNED_KIND",
    "Skipped",
    "daily_count",
    "keep_place",
    "owed_judgments",
    "skip_item",
]

REASSIGNED_KIND = "reassigned"
REASSIGNED_BASE = 1_000_000_000
DAY = timedelta(hours=24)
# This long without a judgment counts as a break (the reminder's stretch starts again).
REST = timedelta(minutes=10)


def settings_of(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return spec.get("annotator_safety") or {}


def skip_allowed(spec: Mapping[str, Any]) -> bool:
    return bool(settings_of(spec).get("skip_distressing"))


def holds_work(spec: Mapping[str, Any]) -> bool:
    """Does the study have a break reminder or a daily cap (checked before each item)?"""
    s = settings_of(spec)
    return bool(s.get("break_reminder_minutes") or s.get("daily_item_cap"))


@dataclass(frozen=True)
class Skipped:
    """What ``skip_item`` did: ``code`` "skipped", "already" (a repeat), "unexpected" (not
    the item expected next), "no_assignment" or "complete"."""

    code: str
    skip: ItemSkip | None = None
    batch_completed: bool = False


def skip_item(
    participant: Participant, entry_id: int | None, now: datetime, reason: str = "distressing"
) -> Skipped:
    """Record that ``participant`` skipped the entry they are on, and give its output to
    someone else. Refused (nothing stored) for any entry but the one expected next."""
    study = participant.study
    with transaction.atomic():
        live = assignment_module.locked_live_assignment(participant)
        if live is None:
            return Skipped("no_assignment")
        upcoming = hot_path.next_entries(live, limit=2)
        if not upcoming:
            return Skipped("complete")
        expected = upcoming[0]
        if entry_id != expected.id:
            again = ItemSkip.objects.filter(assignment=live, entry_id=entry_id).first()
            return Skipped("already", again) if again else Skipped("unexpected")
        skip = ItemSkip.objects.create(
            study=study,
            participant=participant,
            assignment=live,
            entry_id=expected.id,
            item_id=expected.item_id,
            reason=reason,
            skipped_at=now,
        )
        if not Item.objects.filter(id=expected.item_id).values_list("control_kind", flat=True)[0]:
            skip.reassigned_to = _reassign(study, expected.item_id, skip)
            skip.save(update_fields=["reassigned_to"])
        completed = len(upcoming) == 1
        if completed:
            Assignment.objects.filter(id=live.id).update(
                status=Assignment.Status.COMPLETED, completed_at=now
            )
            BatchSlot.objects.filter(id=live.slot_id).update(
                state=BatchSlot.State.COMPLETED, lease_expires_at=None
            )
        else:
            assignment_module.extend_lease(live, study, now)
        transaction.on_commit(lambda: progress_events.progress_changed(study.name))
    return Skipped("skipped", skip, completed)


def _reassign(study: Study, item_id: int, skip: ItemSkip) -> Batch:
    batch = Batch.objects.create(
        study=study, index=REASSIGNED_BASE + skip.id, kind=REASSIGNED_KIND, ordering=[], slots=1
    )
    BatchEntry.objects.create(batch=batch, position=0, block_index=0, item_id=item_id)
    BatchSlot.objects.create(batch=batch, slot_index=0)
    return batch


def owed_judgments(study: Study) -> dict[str, int]:
    """output key → judgments planned for it now: the slots of the batches showing it, less
    its reassigned skips. The k invariant: every value is the study's overlap."""
    owed = assignment_module.output_coverage(study)
    skipped = (
        ItemSkip.objects.filter(study=study, reassigned_to__isnull=False)
        .values("item__output_key")
        .annotate(n=Count("id"))
    )
    for row in skipped:
        owed[row["item__output_key"]] -= row["n"]
    return owed


def daily_count(participant: Participant, now: datetime) -> tuple[int, datetime | None]:
    """(items judged or skipped in the last 24 hours, when the oldest of them was)."""
    since = now - DAY
    judged = Judgment.objects.filter(participant=participant, server_received_at__gte=since)
    skipped = ItemSkip.objects.filter(participant=participant, skipped_at__gte=since)
    times = list(judged.values_list("server_received_at", flat=True)) + list(
        skipped.values_list("skipped_at", flat=True)
    )
    return len(times), min(times) if times else None


def keep_place(participant: Participant, until: datetime) -> None:
    """Keep the participant's live lease (if any) until at least ``until``."""
    live = Assignment.objects.filter(
        participant=participant, status=Assignment.Status.ACTIVE, lease_expires_at__lt=until
    )
    with transaction.atomic():
        slots = list(live.values_list("slot_id", flat=True))
        live.update(lease_expires_at=until)
        BatchSlot.objects.filter(
            id__in=slots, state=BatchSlot.State.LEASED, participant=participant
        ).update(lease_expires_at=until)


def record(participant: Participant, kind: str, now: datetime) -> None:
    SafetyEvent.objects.create(participant=participant, kind=kind, at=now)


def break_due(participant: Participant, now: datetime) -> bool:
    """Has the participant worked ``break_reminder_minutes`` since the instructions, their
    last reminder or their return from a pause? A return after a pause with no "continue"
    (the link opened again) counts as the return."""
    minutes = settings_of(participant.study.spec).get("break_reminder_minutes")
    if not minutes:
        return False
    last = SafetyEvent.objects.filter(participant=participant).order_by("-at", "-id").first()
    if last is not None and last.kind == SafetyEvent.Kind.PAUSE:
        record(participant, SafetyEvent.Kind.RESUME, now)
        return False
    start = last.at if last is not None else participant.instructions_read_at
    if start is None or now - start < timedelta(minutes=minutes):
        return False
    # Away for a while without pressing "take a break" is a break too: the stretch
    # starts again now.
    latest = (
        Judgment.objects.filter(participant=participant, server_received_at__gte=start)
        .order_by("-server_received_at")
        .values_list("server_received_at", flat=True)
        .first()
    )
    if now - (latest or start) >= REST:
        record(participant, SafetyEvent.Kind.RESUME, now)
        return False
    return True
