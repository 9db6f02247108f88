"""Prolific for one study, in the database: build the draft from the spec and the pilot,
and sync — approve or reject each submission awaiting review by its annotator's decision
(annotation.quality_control), and free at once the lease of a participant Prolific reports
as returned or timed out. The rules are in `prolific_core`; HTTP is in `prolific`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from annotation.assignment import expire_stale_leases
from annotation.links import study_link
from annotation.models import Assignment, BatchSlot, Participant, Study

from . import prolific_core as core
from .models import ProlificLink
from .prolific import ProlificClient


@dataclass
class SyncReport:
    """What a sync did, for the command's output and the console page."""

    counts: Counter = field(default_factory=Counter)  # approve / reject / release / leave / failed
    released: list[str] = field(default_factory=list)  # Prolific ids whose lease was freed
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"counts": dict(self.counts), "released": self.released, "errors": self.errors}


def client_for(link: ProlificLink) -> ProlificClient:
    return ProlificClient(link.token(), settings.PROLIFIC_API_URL)


def pilot_batch_seconds(study: Study) -> list[float]:
    """How long each completed batch took (lease start to completion): the pilot's times."""
    return [
        (done - started).total_seconds()
        for started, done in Assignment.objects.filter(
            participant__study=study, status=Assignment.Status.COMPLETED
        ).values_list("started_at", "completed_at")
        if done is not None
    ]


def draft_inputs(
    study: Study, *, reward_cents: int, minutes: int | None = None, description: str = ""
) -> core.DraftInputs:
    spec = study.spec
    return core.DraftInputs(
        title=study.title or spec.get("title") or study.name,
        description=description or spec.get("description") or study.title or study.name,
        study_link=study_link(study.name),
        internal_name=study.name,
        reward_cents=reward_cents,
        places=BatchSlot.objects.filter(batch__study=study, state=BatchSlot.State.FREE).count(),
        completion=spec.get("completion") or {},
        estimated_minutes=core.estimated_minutes(pilot_batch_seconds(study), minutes),
    )


def create_draft(link: ProlificLink, inputs: core.DraftInputs) -> dict:
    """Create the Prolific draft and remember its id; the payload is checked first."""
    payload = core.draft_payload(inputs)
    with client_for(link) as client:
        created = client.create_draft_study(payload)
    link.prolific_study_id = str(created["id"])
    link.draft_created_at = timezone.now()
    link.save(update_fields=["prolific_study_id", "draft_created_at"])
    return created


def study_decisions(study: Study) -> dict:
    """The quality-control decision of each participant (annotation.quality_control)."""
    from annotation.quality_control import decisions_for_study

    return decisions_for_study(study)


def _decisions_by_prolific_id(study: Study) -> dict[str, core.DecisionView]:
    decided = study_decisions(study)
    ids = dict(
        Participant.objects.filter(study=study, source="prolific", id__in=decided).values_list(
            "id", "external_id"
        )
    )
    return {
        ids[pid]: core.DecisionView(
            outcome=decision.outcome,
            reject_reason=decision.reject_reason,
            rejection_category=core.rejection_category(getattr(decision, "reject_rule", "")),
        )
        for pid, decision in decided.items()
        if pid in ids
    }


def release_lease(participant: Participant, now: datetime | None = None) -> bool:
    """End the participant's live lease now, as if it had run out: its slot goes back to the
    pool through the ordinary expiry (annotation.assignment), its judgments are kept and
    labelled. True when a lease was ended."""
    now = now or timezone.now()
    with transaction.atomic():
        held = BatchSlot.objects.select_for_update().filter(
            participant=participant, state=BatchSlot.State.LEASED
        )
        if not held.update(lease_expires_at=now - timedelta(microseconds=1)):
            return False
        expire_stale_leases(participant.study, now)
    return True


def sync(link: ProlificLink) -> SyncReport:
    """Read the study's submissions and act on each (see prolific_core.plan_actions)."""
    if not link.prolific_study_id:
        raise core.DraftProblem("no Prolific study is linked yet: create the draft first")
    study = link.study
    report = SyncReport()
    with client_for(link) as client:
        submissions = list(client.submissions(link.prolific_study_id))
        needs_decisions = any(s.status == core.AWAITING_REVIEW for s in submissions)
        decisions = _decisions_by_prolific_id(study) if needs_decisions else {}
        for action in core.plan_actions(submissions, decisions):
            if action.kind in ("approve", "reject"):
                try:
                    client.transition(action.submission_id, action.body or {})
                except Exception as error:  # one refused transition must not stop the rest
                    report.counts["failed"] += 1
                    report.errors.append(f"{action.submission_id}: {error}")
                    continue
            elif action.kind == "release":
                participant = Participant.objects.filter(
                    study=study, external_id=action.participant_id
                ).first()
                if participant is not None and release_lease(participant):
                    report.released.append(action.participant_id)
            report.counts[action.kind] += 1
    link.last_synced_at = timezone.now()
    link.last_sync = report.as_dict()
    link.save(update_fields=["last_synced_at", "last_sync"])
    return report
