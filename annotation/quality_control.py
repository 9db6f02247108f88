"""The Django shell of the per-annotator decision (pure core: annotation.decisions).

Decisions are computed on demand from the judgments and the study's current spec rules
(``quality_control.decision``), never stored, so they follow the rules when these change.
Evidence: attention checks, the degraded-control pairs, gold items (in batches and in the
qualification), time per item (``min_time.per_item_seconds``) and per batch
(``min_time.per_batch_seconds``). Skipped items (annotation/safety.py) are not judgments
and count for nothing here.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

from . import qualification
from .answers import attention_passed
from .controls import DEGRADED_SYSTEM
from .decisions import Decision, Evidence, Preference, Rules, decide
from .models import Assignment, Judgment, Participant, QualificationAnswer, Study

__all__ = [
    "RULES",
    "can_reject",
    "decision_for",
    "decisions_for_study",
    "evidence_for_study",
    "rule_results",
    "rule_results_for_study",
    "rules_for",
]

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


def can_reject(spec: dict[str, Any]) -> bool:
    """Could any rule reject an annotator of this spec? Each rejecting rule of ``decide``
    needs evidence that only a control of the spec produces (attention checks, gold items,
    degraded copies, the qualification); without one the decision is never reject, so a
    finished annotator's outcome needs no evidence read (completion.finished_outcome)."""
    rules = rules_for(spec)
    qc = spec.get("quality_control") or {}
    return bool(
        (rules.attention_reject_at is not None and spec.get("attention_checks"))
        or (rules.gold_threshold is not None and qc.get("gold") is not None)
        or (rules.degraded_not_significant == "reject" and qc.get("degraded") is not None)
        or (rules.qualification_failed == "reject" and qualification.required(spec))
    )


def _score_dimension(spec: dict[str, Any]) -> str | None:
    """The dimension the degraded-control test compares: the spec's
    ``quality_control.decision.dimension``, else the first slider or likert."""
    given = ((spec.get("quality_control") or {}).get("decision") or {}).get("dimension")
    if given:
        return given
    kinds = ("choice",) if spec.get("protocol") == "pairwise" else ("slider", "likert")
    return next((d["key"] for d in spec.get("dimensions", []) if d.get("type") in kinds), None)


def _preference(value: Any, degraded_left: bool) -> Preference | None:
    """Which side of a pairwise copy was preferred: "a" is the left (the item's candidate)."""
    if value not in ("a", "b", "tie"):
        return None
    if value == "tie":
        return "tie"
    return "degraded" if (value == "a") == degraded_left else "original"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def evidence_for_study(study: Study, participant_id: int | None = None) -> dict[int, Evidence]:
    """Evidence per participant id (three queries, four with a qualification); one
    participant's with ``participant_id``.

    Degraded pairs: (the annotator's score of the original item, of its degraded copy) on
    the score dimension, for copies whose original they judged (rating studies); pairwise
    copies (the original against its degraded text): which side was preferred. Gold accuracy: gold items in batches (``control_kind``
    "gold", their answers in ``attention_expect``); the qualification's answers decide
    ``qualification_passed`` only (its own rule: a screened-out annotator did no real work).
    """
    only = {} if participant_id is None else {"participant_id": participant_id}
    attention: dict[int, list[bool]] = defaultdict(list)
    gold: dict[int, list[bool]] = defaultdict(list)
    seconds: dict[int, list[float]] = defaultdict(list)
    scores: dict[int, list[float]] = defaultdict(list)
    by_item: dict[int, dict[int, float]] = defaultdict(dict)  # pid -> real item -> score
    copies: dict[int, list[tuple[int, float]]] = defaultdict(list)  # pid -> (original, score)
    dimension = _score_dimension(study.spec)
    rows = Judgment.objects.filter(study=study, **only).values_list(
        "participant_id",
        "values",
        "time_on_item_ms",
        "item_id",
        "item__attention_check_id",
        "item__attention_expect",
        "item__control_kind",
        "item__control_of_id",
        "item__candidate__system__name",
    )
    preferences: dict[int, list[Preference]] = defaultdict(list)
    real: dict[int, int] = defaultdict(int)  # real items judged
    pairwise = study.spec.get("protocol") == "pairwise"
    for pid, values, ms, item_id, check, expect, kind, original, left_system in rows:
        answer = (values or {}).get(dimension) if dimension else None
        if pairwise and kind == "degraded":
            preferred = _preference(answer, left_system == DEGRADED_SYSTEM)
            if preferred is not None:
                preferences[pid].append(preferred)
            continue
        score = _number(answer)
        if check or kind == "attention":
            attention[pid].append(attention_passed(expect or {}, values or {}))
            continue
        if kind == "gold":
            gold[pid].append(attention_passed(expect or {}, values or {}))
            continue
        if score is not None:
            scores[pid].append(score)
        if kind == "degraded":
            if score is not None and original is not None:
                copies[pid].append((original, score))
            continue
        real[pid] += 1
        if score is not None:
            by_item[pid][item_id] = score
        if ms is not None:
            seconds[pid].append(ms / 1000)
    qualified: dict[int, bool] = {}
    if qualification.required(study.spec):
        answers = QualificationAnswer.objects.filter(participant__study=study, **only)
        threshold = float(study.spec["quality_control"]["gold"]["pass_threshold"])
        total = len(qualification.gold_items(study.spec))
        answered: dict[int, list[bool]] = defaultdict(list)
        for pid, correct in answers.values_list("participant_id", "correct"):
            answered[pid].append(correct)
        for pid, results in answered.items():
            if len(results) >= total:
                qualified[pid] = sum(results) / max(total, 1) >= threshold
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
            degraded_pairs=tuple(
                (by_item[pid][orig], score) for orig, score in copies[pid] if orig in by_item[pid]
            ),
            scores=tuple(scores[pid]),
            gold_total=len(gold[pid]),
            gold_correct=sum(gold[pid]),
            item_seconds=tuple(seconds[pid]),
            batch_seconds=tuple(batches[pid]),
            qualification_passed=qualified.get(pid),
            items_judged=real[pid],
            degraded_preferences=tuple(preferences[pid]),
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


#: The decision's rules, each judged on its own evidence by ``rule_results``.
RULES = ("attention", "degraded", "gold", "time", "qualification")


def rule_results(evidence: Evidence, rules: Rules) -> dict[str, bool | None]:
    """Per rule of ``RULES``: did the annotator pass it (True / False), or was there no
    evidence for it (None)? Each is ``decide`` itself on only that rule's evidence, so the
    thresholds stay in one place (``annotation.decisions``)."""
    empty = Evidence()
    parts: dict[str, Evidence | None] = {
        "attention": dataclasses.replace(
            empty,
            attention_total=evidence.attention_total,
            attention_failed=evidence.attention_failed,
        )
        if evidence.attention_total
        else None,
        "degraded": dataclasses.replace(
            empty,
            degraded_pairs=evidence.degraded_pairs,
            scores=evidence.scores,
            degraded_preferences=evidence.degraded_preferences,
        )
        if evidence.degraded_pairs or evidence.degraded_preferences
        else None,
        "gold": dataclasses.replace(
            empty, gold_total=evidence.gold_total, gold_correct=evidence.gold_correct
        )
        if evidence.gold_total and rules.gold_threshold is not None
        else None,
        "time": dataclasses.replace(
            empty, item_seconds=evidence.item_seconds, batch_seconds=evidence.batch_seconds
        )
        if (rules.min_item_seconds is not None and evidence.item_seconds)
        or (rules.min_batch_seconds is not None and evidence.batch_seconds)
        else None,
        "qualification": dataclasses.replace(
            empty, qualification_passed=evidence.qualification_passed
        )
        if evidence.qualification_passed is not None
        else None,
    }
    return {
        rule: None if part is None else decide(part, rules).outcome == "approve"
        for rule, part in parts.items()
    }


def rule_results_for_study(study: Study) -> dict[int, tuple[Decision, dict[str, bool | None]]]:
    """Per participant id: the decision and ``rule_results`` (the analysis report reads
    these: how many passed each rule)."""
    rules = rules_for(study.spec)
    return {
        pid: (decide(e, rules), rule_results(e, rules))
        for pid, e in evidence_for_study(study).items()
    }
