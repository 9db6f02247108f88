"""The one place that hands out work. Read assignment.md beside this file first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from . import hot_path
from .models import Assignment, BatchEntry, BatchSlot, Judgment, Participant, Study


@dataclass(frozen=True)
class WorkResult:
    """What `request_work` decided: an assignment, or why there is none."""

    assignment: Assignment | None
    reason: str  # "resumed" | "revived" | "new" | "none_left"


def lease_length(study: Study) -> timedelta:
    return timedelta(minutes=study.lease_minutes)


def first_lease_length(study: Study) -> timedelta:
    """A new lease is short until its first judgment (settings.EVALSITE_FIRST_LEASE_MINUTES):
    a visitor who takes a batch and judges nothing gives it back soon, so opening the link
    many times cannot hold a study's slots for the whole lease time."""
    first = timedelta(minutes=max(1, settings.EVALSITE_FIRST_LEASE_MINUTES))
    return min(first, lease_length(study))


def expire_stale_leases(study: Study, now: datetime | None = None) -> int:
    """Return expired leases of `study` to the pool; keep (and label) their judgments.

    Must run inside the caller's transaction. Returns how many leases expired.
    """
    now = now or timezone.now()
    stale = list(
        _lock(
            BatchSlot.objects.filter(
                batch__study=study, state=BatchSlot.State.LEASED, lease_expires_at__lt=now
            ),
            skip_locked=False,
        ).values_list("id", flat=True)
    )
    if not stale:
        return 0
    Assignment.objects.filter(slot_id__in=stale, status=Assignment.Status.ACTIVE).update(
        status=Assignment.Status.EXPIRED, expired_at=now
    )
    BatchSlot.objects.filter(id__in=stale).update(
        state=BatchSlot.State.FREE, participant=None, lease_expires_at=None
    )
    return len(stale)


def request_work(participant: Participant, now: datetime | None = None) -> WorkResult:
    """Give `participant` their live lease, or a fresh slot they may take, atomically."""
    now = now or timezone.now()
    study = participant.study
    with transaction.atomic():
        # One request per participant at a time (double clicks, two tabs): lock their row.
        _lock(Participant.objects.filter(pk=participant.pk)).get()
        expire_stale_leases(study, now)
        live = (
            _lock(
                Assignment.objects.filter(participant=participant, status=Assignment.Status.ACTIVE)
            )
            .select_related("slot__batch")
            .first()
        )
        if live is not None:
            return WorkResult(live, "resumed")

        # Coming back after the lease ran out: take the same slot again if nobody has it,
        # so the partial work goes on where it stopped.
        expired = (
            Assignment.objects.filter(participant=participant, status=Assignment.Status.EXPIRED)
            .order_by("-started_at")
            .first()
        )
        if expired is not None:
            slot = _lock(
                BatchSlot.objects.filter(id=expired.slot_id, state=BatchSlot.State.FREE)
            ).first()
            if slot is not None and not _participant_finished_elsewhere(participant, slot):
                _lease(slot, participant, study, now, lease_length(study))
                expired.status = Assignment.Status.ACTIVE
                expired.lease_expires_at = slot.lease_expires_at
                expired.expired_at = None
                expired.save(update_fields=["status", "lease_expires_at", "expired_at"])
                return WorkResult(expired, "revived")

        excluded = _batches_excluded_for(participant)
        free = (
            BatchSlot.objects.filter(batch__study=study, state=BatchSlot.State.FREE)
            .exclude(batch_id__in=excluded)
            # Breadth first: every batch's first slot before any second slot, so completed
            # counts stay level across batches (fewest completed first).
            .order_by("slot_index", "batch__index")
        )
        slot = _lock(free, skip_locked=True).first()
        if slot is None:
            return WorkResult(None, "none_left")
        _lease(slot, participant, study, now, first_lease_length(study))
        assignment = Assignment.objects.create(
            slot=slot,
            participant=participant,
            status=Assignment.Status.ACTIVE,
            started_at=now,
            lease_expires_at=slot.lease_expires_at,
        )
        return WorkResult(assignment, "new")


def work_available(participant: Participant, now: datetime | None = None) -> bool:
    """Would `request_work` give `participant` an assignment now? Read-only: no lease taken.

    The pages before the first item ask this, so nobody reads a consent form and the
    instructions only to be told there is no work. It follows request_work's rules (a live
    lease, a revivable expired one, a free or stale slot of a batch not excluded) without
    locks; a slot taken in between is met by the no-work page when the first item is asked.
    """
    now = now or timezone.now()
    if Assignment.objects.filter(participant=participant, status=Assignment.Status.ACTIVE).exists():
        return True
    open_slot = Q(state=BatchSlot.State.FREE) | Q(
        state=BatchSlot.State.LEASED, lease_expires_at__lt=now
    )
    slots = BatchSlot.objects.filter(open_slot, batch__study_id=participant.study_id)
    expired = (
        Assignment.objects.filter(participant=participant, status=Assignment.Status.EXPIRED)
        .order_by("-started_at")
        .first()
    )
    if expired is not None and slots.filter(id=expired.slot_id).exists():
        if not _participant_finished_elsewhere(participant, expired.slot):
            return True
    return slots.exclude(batch_id__in=_batches_excluded_for(participant)).exists()


def work_left_for_newcomers(study: Study, now: datetime | None = None) -> bool:
    """Is there a slot someone who has held no batch of `study` could take? Read-only (the
    opening pages of a visitor not registered yet ask it)."""
    now = now or timezone.now()
    open_slot = Q(state=BatchSlot.State.FREE) | Q(
        state=BatchSlot.State.LEASED, lease_expires_at__lt=now
    )
    return BatchSlot.objects.filter(open_slot, batch__study_id=study.pk).exists()


def lease_renewal(study: Study, now: datetime) -> tuple[datetime, datetime]:
    """(threshold, new expiry): after a judgment, a lease that expires before `threshold`
    (less than half of the study's lease length left) is pushed to `new expiry` (the full
    length from now). Most submits then write nothing but the judgment, and a lease still
    never runs out while its holder keeps judging; the short first lease is always below
    half, so the first judgment gives the full length. The one statement of the rule: the
    ORM path (`extend_lease`) and PostgreSQL's one-round-trip submit (`hot_submit`) apply it."""
    full = lease_length(study)
    return now + full / 2, now + full


def extend_lease(assignment: Assignment, study: Study, now: datetime | None = None) -> bool:
    """Push the lease forward after a judgment (inside the judgment transaction) when
    `lease_renewal` says so. Returns whether the lease was extended."""
    now = now or timezone.now()
    threshold, expires = lease_renewal(study, now)
    if assignment.lease_expires_at >= threshold:
        return False
    BatchSlot.objects.filter(id=assignment.slot_id).update(lease_expires_at=expires)
    Assignment.objects.filter(id=assignment.id).update(lease_expires_at=expires)
    assignment.lease_expires_at = expires
    return True


def _lease(
    slot: BatchSlot, participant: Participant, study: Study, now: datetime, length: timedelta
) -> None:
    slot.state = BatchSlot.State.LEASED
    slot.participant = participant
    slot.lease_expires_at = now + length
    slot.save(update_fields=["state", "participant", "lease_expires_at"])


def locked_live_assignment(participant: Participant) -> Assignment | None:
    """The participant's live assignment with its slot, the slot row locked: one query.

    Only the slot is locked (``of=slot``), the row lease expiry and revival lock first, so
    a submit racing an expiry waits for it instead of deadlocking. The slot's own state is in
    the WHERE clause: PostgreSQL re-checks the locked row after the wait, so a slot freed or
    given to someone else meanwhile is not returned (the assignment's columns come from the
    statement's snapshot and are not re-checked; the slot's are).
    """
    # At most one row (one_active_assignment). Hand-written SQL: this runs on every submit
    # (see hot_path).
    return hot_path.locked_live_assignment(participant)


def live_assignment(participant: Participant, now: datetime) -> Assignment | None:
    """The participant's assignment if its lease is live now (a read, no lock): the next-item
    page of someone in the middle of a batch needs nothing of request_work's locking."""
    found = list(
        Assignment.objects.filter(
            participant=participant, status=Assignment.Status.ACTIVE
        ).select_related("slot")[:1]
    )  # at most one (one_active_assignment)
    live = found[0] if found else None
    return live if live is not None and live.lease_expires_at > now else None


def _participant_finished_elsewhere(participant: Participant, slot: BatchSlot) -> bool:
    return Assignment.objects.filter(
        participant=participant, slot__batch_id=slot.batch_id, status=Assignment.Status.COMPLETED
    ).exists()


def _batches_excluded_for(participant: Participant) -> set[int]:
    """Batches holding an output (or, unless the spec allows it, a context) already seen.

    "Seen" means in any batch the participant ever held, judged or not: they have read it.
    Attention-check items are not outputs: the same checks sit in many batches, so they
    are left out here (else one finished batch would rule out every other batch).
    """
    held_batches = set(
        Assignment.objects.filter(participant=participant).values_list("slot__batch_id", flat=True)
    )
    if not held_batches:
        return set()
    seen = BatchEntry.objects.filter(batch_id__in=held_batches, item__control_kind="")
    seen_outputs = set(seen.values_list("item__output_key", flat=True))
    excluded = set(
        BatchEntry.objects.filter(
            batch__study_id=participant.study_id, item__output_key__in=seen_outputs
        ).values_list("batch_id", flat=True)
    )
    design = participant.study.spec.get("design", {})
    if not design.get("repeat_context_in_batch", False):
        seen_contexts = set(seen.values_list("item__context_id", flat=True))
        excluded |= set(
            BatchEntry.objects.filter(
                batch__study_id=participant.study_id, item__context_id__in=seen_contexts
            ).values_list("batch_id", flat=True)
        )
    return excluded | held_batches


def _lock(queryset: QuerySet, skip_locked: bool = False) -> QuerySet:
    """Row locks on PostgreSQL; SQLite serialises whole write transactions instead."""
    if connection.features.has_select_for_update:
        return queryset.select_for_update(skip_locked=skip_locked, of=("self",))
    return queryset


def slot_counts(study: Study) -> dict[int, dict[str, int]]:
    """batch id → {"completed": n, "leased": n, "free": n} (for invariants and progress)."""
    counts: dict[int, dict[str, int]] = {}
    for batch_id, state in BatchSlot.objects.filter(batch__study=study).values_list(
        "batch_id", "state"
    ):
        row = counts.setdefault(batch_id, {"completed": 0, "leased": 0, "free": 0})
        row[state] += 1
    return counts


def output_coverage(study: Study) -> dict[str, int]:
    """output_key → planned judgments (slots of the batches showing it), real items only.

    Each must equal the study's overlap k; attention-check items are shared across batches
    and are not outputs, so they are left out.
    """
    counts: dict[str, int] = {}
    entries = BatchEntry.objects.filter(batch__study=study, item__control_kind="")
    for output_key, slots in entries.values_list("item__output_key", "batch__slots"):
        counts[output_key] = counts.get(output_key, 0) + slots
    return counts


def judged_entry_ids(assignment: Assignment) -> set[int]:
    return set(Judgment.objects.filter(assignment=assignment).values_list("entry_id", flat=True))
