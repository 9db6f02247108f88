"""The Django shell of the per-annotator decision (pure core: annotation.decisions).

Decisions are computed on demand from the judgments and the study's current spec rules
(``quality_control.decision``), never stored, so they follow the rules when these change.
Evidence read today: attention checks, time per item (``min_time.per_item_seconds``) and
per batch (``min_time.per_batch_seconds``).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .answers import attention_passed
from .decisions import Decision, Evidence, Rules, decide
from .models import Assignment, Judgment, Participant, Study

__all__ = ["decision_for", "decisions_for_study", "evidence_for_study", "rules_for"]

_RULE_KEYS = {
    "attention_reject_at",
    "attention_review_at",
    "degraded_not_significant",
    "gold_threshold",
    "too_fast_share",
    "qualification_failed",
}


# Rules whose 0 in the spec means "off" (None in Rules).
_OFF_AT_ZERO = {"attention_reject_at", "attention_review_at", "gold_threshold"}


def rules_for(spec: dict[str, Any]) -> Rules:
    """The decision rules of a spec: ``quality_control.decision`` for the rules,
    ``quality_control.degraded`` for the test and alpha, ``quality_control.min_time``
    for the times; defaults where absent."""
    qc = spec.get("quality_control") or {}
    given = {
        k: (None if k in _OFF_AT_ZERO and v == 0 else v)
        for k, v in (qc.get("decision") or {}).items()
        if k in _RULE_KEYS and v is not None
    }
    degraded = qc.get("degraded") or {}
    min_time = qc.get("min_time") or {}
    return Rules(
        **given,
        degraded_test=degraded.get("test", "mann_whitney"),
        degraded_scores=degraded.get("scores", "z"),
        alpha=float(degraded.get("alpha", 0.05)),
        min_item_seconds=min_time.get("per_item_seconds"),
        min_batch_seconds=min_time.get("per_batch_seconds"),
    )


def evidence_for_study(study: Study, participant_id: int | None = None) -> dict[int, Evidence]:
    """Evidence per participant id (three queries); one participant's with ``participant_id``."""
    only = {} if participant_id is None else {"participant_id": participant_id}
    attention: dict[int, list[bool]] = defaultdict(list)
    seconds: dict[int, list[float]] = defaultdict(list)
    rows = Judgment.objects.filter(study=study, **only).values_list(
        "participant_id",
        "values",
        "time_on_item_ms",
        "item__attention_check_id",
        "item__attention_expect",
    )
    for pid, values, ms, check, expect in rows:
        if check:
            attention[pid].append(attention_passed(expect or {}, values or {}))
        elif ms is not None:
            seconds[pid].append(ms / 1000)
    batches: dict[int, list[float]] = defaultdict(list)
    done = Assignment.objects.filter(
        participant__study=study, status=Assignment.Status.COMPLETED, **only
    ).values_list("participant_id", "started_at", "completed_at")
    for pid, started, completed in done:
        if completed:
            batches[pid].append((completed - started).total_seconds())
    pids = (
        [participant_id]
        if participant_id is not None
        else Participant.objects.filter(study=study).values_list("id", flat=True)
    )
    return {
        pid: Evidence(
            attention_total=len(attention[pid]),
            attention_failed=attention[pid].count(False),
            item_seconds=tuple(seconds[pid]),
            batch_seconds=tuple(batches[pid]),
            items_judged=len(seconds[pid]),
        )
        for pid in pids
    }


def decisions_for_study(study: Study) -> dict[int, Decision]:
    """One decision per participant of ``study``, keyed by Participant id."""
    rules = rules_for(study.spec)
    return {pid: decide(e, rules) for pid, e in evidence_for_study(study).items()}


def decision_for(participant: Participant) -> Decision:
    """The decision for one participant."""
    evidence = evidence_for_study(participant.study, participant.id)[participant.id]
    return decide(evidence, rules_for(participant.study.spec))
