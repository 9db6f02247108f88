"""The completion code and redirect for a participant's outcome.

Outcomes (``annotation.spec.parts.COMPLETION_OUTCOMES``): "completed" (finished and passed
quality control), "failed_checks" (finished, failed it), "screened_out" (failed the
qualification), "no_work" (no work available). The spec's ``completion.codes.<outcome>``
({code, redirect_url}) wins; without it the older single ``completion.code`` /
``redirect_url`` serve completed and failed_checks (so a study with one code keeps
working) and ``completion.no_work_code`` serves no_work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .models import Participant, Study
from .quality_control import can_reject, decision_for
from .spec.parts import COMPLETION_OUTCOMES

__all__ = ["OUTCOMES", "completion_for", "completion_of_spec", "finished_outcome"]

OUTCOMES = COMPLETION_OUTCOMES


def completion_of_spec(spec: Mapping[str, Any], outcome: str) -> tuple[str | None, str | None]:
    """(code, redirect_url) of a stored spec for ``outcome``; either may be None."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown completion outcome {outcome!r}; one of {', '.join(OUTCOMES)}")
    completion = spec.get("completion") or {}
    given = (completion.get("codes") or {}).get(outcome)
    if given:
        return given.get("code"), given.get("redirect_url")
    if outcome == "no_work":
        return completion.get("no_work_code"), None
    if outcome == "screened_out":
        return None, None
    return completion.get("code"), completion.get("redirect_url")


def completion_for(participant: Participant, outcome: str) -> tuple[str | None, str | None]:
    """(code, redirect_url) for ``participant`` leaving with ``outcome``."""
    return completion_of_spec(participant.study.spec, outcome)


def no_work_completion(study: Study) -> tuple[str | None, str | None]:
    """(code, redirect_url) of the no-work page (the visitor may not be a participant yet)."""
    return completion_of_spec(study.spec, "no_work")


def finished_outcome(participant: Participant) -> str:
    """The completion outcome of a participant who finished: "failed_checks" when their
    quality-control decision is reject, else "completed" (review is the researcher's call,
    after the annotator has left). No query for a study whose rules cannot reject."""
    if not can_reject(participant.study.spec):
        return "completed"
    return "failed_checks" if decision_for(participant).outcome == "reject" else "completed"
