"""Reads used by views and commands (progress, what a participant sees next)."""

from __future__ import annotations

from django.db.models import Count, Q

from .models import Assignment, BatchSlot, Judgment, Participant, Study


def batch_length(batch_id: int) -> int:
    from .models import BatchEntry

    return BatchEntry.objects.filter(batch_id=batch_id).count()


def has_completed_batch(participant: Participant) -> bool:
    return Assignment.objects.filter(
        participant=participant, status=Assignment.Status.COMPLETED
    ).exists()


def study_progress(study: Study) -> dict:
    """Counts a researcher watches: slots by state, participants, judgments."""
    slots = BatchSlot.objects.filter(batch__study=study).aggregate(
        total=Count("id"),
        completed=Count("id", filter=Q(state=BatchSlot.State.COMPLETED)),
        leased=Count("id", filter=Q(state=BatchSlot.State.LEASED)),
        free=Count("id", filter=Q(state=BatchSlot.State.FREE)),
    )
    return {
        "study": study.name,
        "batches": study.batches.count(),
        "slots": slots,
        "participants": Participant.objects.filter(study=study).count(),
        "active_assignments": Assignment.objects.filter(
            participant__study=study, status=Assignment.Status.ACTIVE
        ).count(),
        "expired_assignments": Assignment.objects.filter(
            participant__study=study, status=Assignment.Status.EXPIRED
        ).count(),
        "judgments": Judgment.objects.filter(study=study).count(),
    }
