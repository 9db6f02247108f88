"""Prolific's API as plain data: the draft study a spec describes, and what to do with each
submission given the study's per-annotator decisions. No Django, no HTTP (the client is
`prolific.py`), so every rule here is tested without a server.

Field names and values follow Prolific's public API reference (docs.prolific.com,
"The study object" and "Approve or reject a submission").
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Submission statuses (Prolific's spelling, with its space and hyphen).
ACTIVE = "ACTIVE"
AWAITING_REVIEW = "AWAITING REVIEW"
RETURNED = "RETURNED"
TIMED_OUT = "TIMED-OUT"
# A participant who returned the study or ran out of time holds a place no more: free the
# lease they hold at once rather than when it runs out.
LEFT_STATUSES = frozenset({RETURNED, TIMED_OUT})

# Prolific's rejection categories (the transition's `rejection_category`).
REJECTION_CATEGORIES = frozenset(
    {
        "TOO_QUICKLY",
        "TOO_SLOWLY",
        "FAILED_INSTRUCTIONS",
        "INCOMP_LONGITUDINAL",
        "FAILED_CHECK",
        "LOW_EFFORT",
        "MALINGERING",
        "NO_CODE",
        "BAD_CODE",
        "NO_DATA",
        "UNSUPP_DEVICE",
        "OTHER",
    }
)
# The category of a rejection by the quality-control rule behind it (annotation.decisions
# REJECT_RULES): checks with known answers failed, or ratings that do not tell a degraded
# copy from its original (low effort). Anything else: FAILED_CHECK.
CATEGORY_OF_RULE = {
    "attention": "FAILED_CHECK",
    "qualification": "FAILED_CHECK",
    "gold": "FAILED_CHECK",
    "degraded": "LOW_EFFORT",
}
# Prolific refuses a rejection whose message is shorter than this.
MIN_REJECTION_MESSAGE = 100

# The spec's completion outcomes → Prolific code types. Every code is reviewed by hand on
# Prolific's side (MANUALLY_REVIEW): approval is this app's decision, sent by `sync`, never
# Prolific's automatic approval of whoever typed the code.
CODE_TYPES = {
    "completed": "COMPLETED",
    "failed_checks": "FAILED_ATTENTION_CHECK",
    "screened_out": "OTHER",
    "no_work": "OTHER",
}
URL_PARAMETERS = (
    "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
)


class DraftProblem(ValueError):
    """The draft cannot be built (what is missing, said for the researcher)."""


@dataclass(frozen=True)
class DraftInputs:
    """What a Prolific draft is made of, read from the study and its data."""

    title: str
    description: str
    study_link: str  # the public annotator link, without parameters
    internal_name: str  # the study's name here, so the two are easy to match
    reward_cents: int
    places: int  # free slots: one place per batch slot nobody holds or finished
    completion: Mapping[str, Any]  # the spec's `completion` section
    estimated_minutes: int


def estimated_minutes(batch_seconds: Sequence[float], fallback: int | None = None) -> int:
    """Prolific's estimated completion time: the pilot's median time per batch, rounded up to
    whole minutes (at least 1). Without a pilot the researcher must say (`fallback`)."""
    if batch_seconds:
        return max(1, math.ceil(statistics.median(batch_seconds) / 60))
    if fallback is None:
        raise DraftProblem(
            "no pilot batch has been completed yet, so there is no median time: give the "
            "estimated completion time in minutes"
        )
    if fallback < 1:
        raise DraftProblem("the estimated completion time must be at least 1 minute")
    return fallback


def completion_codes(completion: Mapping[str, Any]) -> dict[str, str]:
    """The spec's codes by outcome: `completion.codes.<outcome>.code`, with the older single
    fields (`code`, `no_work_code`) as the defaults of "completed" and "no_work"."""
    given = completion.get("codes") or {}
    found: dict[str, str] = {}
    for outcome in CODE_TYPES:
        entry = given.get(outcome) or {}
        code = entry.get("code") if isinstance(entry, Mapping) else None
        if not code and outcome == "completed":
            code = completion.get("code")
        if not code and outcome == "no_work":
            code = completion.get("no_work_code")
        if code:
            found[outcome] = str(code)
    return found


def draft_payload(inputs: DraftInputs) -> dict[str, Any]:
    """The body of `POST /api/v1/studies/`: a draft (UNPUBLISHED) study the researcher
    checks and publishes on Prolific."""
    codes = completion_codes(inputs.completion)
    if "completed" not in codes:
        raise DraftProblem(
            "the spec gives no completion code (completion.codes.completed.code or "
            "completion.code): Prolific needs one to confirm a participant finished"
        )
    if len(set(codes.values())) != len(codes):
        raise DraftProblem("two completion outcomes share one code; Prolific needs each once")
    if inputs.places < 1:
        raise DraftProblem("no free slot is left, so there is no place to recruit for")
    if inputs.reward_cents < 1:
        raise DraftProblem("the reward must be at least 1 (in your account's cents or pence)")
    return {
        "name": inputs.title,
        "internal_name": inputs.internal_name,
        "description": inputs.description,
        "external_study_url": f"{inputs.study_link}?{URL_PARAMETERS}",
        "prolific_id_option": "url_parameters",
        "completion_codes": [
            {
                "code": code,
                "code_type": CODE_TYPES[outcome],
                "actions": [{"action": "MANUALLY_REVIEW"}],
            }
            for outcome, code in codes.items()
        ],
        "estimated_completion_time": inputs.estimated_minutes,
        "reward": inputs.reward_cents,
        "total_available_places": inputs.places,
        "device_compatibility": ["desktop", "tablet", "mobile"],
    }


@dataclass(frozen=True)
class Submission:
    """One Prolific submission, as `GET /api/v1/studies/{id}/submissions/` lists it."""

    id: str
    participant_id: str
    status: str


def submission_from_json(row: Mapping[str, Any]) -> Submission:
    # The list names the participant `participant_id`; single submissions name it `participant`.
    return Submission(
        id=str(row["id"]),
        participant_id=str(row.get("participant_id") or row.get("participant") or ""),
        status=str(row.get("status", "")),
    )


@dataclass(frozen=True)
class DecisionView:
    """The part of a quality-control decision a platform needs (annotation.decisions)."""

    outcome: str  # approve | reject | review
    reject_reason: str = ""
    rejection_category: str = "FAILED_CHECK"


@dataclass(frozen=True)
class Action:
    """What to do about one submission."""

    submission_id: str
    participant_id: str
    kind: str  # approve | reject | release | leave
    why: str
    body: Mapping[str, Any] | None = None  # the transition's body (approve / reject)


def rejection_category(rule: str) -> str:
    """Prolific's rejection category for a decision's rejecting rule."""
    return CATEGORY_OF_RULE.get(rule, "FAILED_CHECK")


def rejection_message(reason: str) -> str:
    """Prolific's rejection message (≥ 100 characters): the decision's reason, said kindly."""
    reason = reason.strip().rstrip(".") or "the study's quality checks were not passed"
    text = (
        f"Thank you for taking part. We could not approve this submission: {reason}. "
        "The checks were described in the study's instructions. If you think this is a "
        "mistake, please message us through Prolific."
    )
    return text if len(text) >= MIN_REJECTION_MESSAGE else text.ljust(MIN_REJECTION_MESSAGE)


def plan_actions(
    submissions: Iterable[Submission], decisions: Mapping[str, DecisionView]
) -> list[Action]:
    """Per submission: approve or reject one awaiting review by its annotator's decision,
    release the place of one returned or timed out, leave everything else (a decision to
    review, an annotator unknown here, a submission already decided or still active).

    `decisions` is keyed by Prolific participant id (the annotator's PROLIFIC_PID)."""
    actions = []
    for sub in submissions:
        decision = decisions.get(sub.participant_id)
        if sub.status in LEFT_STATUSES:
            actions.append(Action(sub.id, sub.participant_id, "release", sub.status.lower()))
        elif sub.status != AWAITING_REVIEW:
            actions.append(Action(sub.id, sub.participant_id, "leave", f"status {sub.status}"))
        elif decision is None:
            actions.append(
                Action(sub.id, sub.participant_id, "leave", "no annotator with this id here")
            )
        elif decision.outcome == "approve":
            actions.append(
                Action(sub.id, sub.participant_id, "approve", "passed", {"action": "APPROVE"})
            )
        elif decision.outcome == "reject":
            category = decision.rejection_category
            if category not in REJECTION_CATEGORIES:
                category = "OTHER"
            body = {
                "action": "REJECT",
                "message": rejection_message(decision.reject_reason),
                "rejection_category": category,
            }
            actions.append(
                Action(sub.id, sub.participant_id, "reject", decision.reject_reason, body)
            )
        else:
            actions.append(
                Action(sub.id, sub.participant_id, "leave", "the decision is to review by hand")
            )
    return actions


def token_hint(token: str) -> str:
    """How a stored token is shown: never in full, only its last four characters."""
    return "…" + token[-4:] if len(token) > 8 else "…"
