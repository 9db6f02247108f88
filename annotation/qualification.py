"""The qualification step: gold items with known answers before the first real item.

ACUTE-Eval / Mephisto screen crowd workers with onboarding items whose answers are known
(their threshold: 0.75). With ``quality_control.gold.placement: qualification`` every
annotator answers the spec's gold items, in the spec's order, after the instructions and
before any batch is leased; after each answer they are told whether it was right
(``feedback``). Once all are answered, the share right decides: at ``pass_threshold`` or
above they go on to the real items; below it they are thanked, get no work (no slot is
ever leased for them) and leave with the ``screened_out`` completion code.

The gold items are shown from the spec itself (they are not batch items): the answers are
``QualificationAnswer`` rows, checked at once with the attention checks' rule
(``answers.attention_passed``). Pairwise gold items show ``response_a`` on the left, so
their ``expect`` is already in screen terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction

from .answers import attention_passed, clean_answers
from .dimensions import dimension_of
from .models import Participant, QualificationAnswer

__all__ = [
    "Status",
    "expected_answers",
    "given_answers",
    "gold_items",
    "record_answer",
    "required",
    "status",
]


def _gold(spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    gold = (spec.get("quality_control") or {}).get("gold")
    return gold if gold and gold.get("placement") == "qualification" else None


def required(spec: Mapping[str, Any]) -> bool:
    """Does this study screen annotators with a qualification? (No query.)"""
    return _gold(spec) is not None


def gold_items(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    gold = _gold(spec)
    return list(gold["items"]) if gold else []


@dataclass(frozen=True)
class Status:
    """Where a participant stands: ``answered`` gold ids (in order), how many right."""

    answered: tuple[str, ...]
    correct: int
    total: int
    threshold: float

    @property
    def finished(self) -> bool:
        return len(self.answered) >= self.total

    @property
    def passed(self) -> bool | None:
        """True / False once every gold item is answered; None before."""
        if not self.finished:
            return None
        return self.total == 0 or self.correct / self.total >= self.threshold


def status(participant: Participant) -> Status:
    """The participant's qualification so far (one query)."""
    gold = _gold(participant.study.spec) or {"items": [], "pass_threshold": 0.0}
    ids = {g["id"] for g in gold["items"]}
    rows = [
        (gid, ok)
        for gid, ok in QualificationAnswer.objects.filter(participant=participant).values_list(
            "gold_id", "correct"
        )
        if gid in ids
    ]
    return Status(
        answered=tuple(gid for gid, _ in rows),
        correct=sum(1 for _, ok in rows if ok),
        total=len(gold["items"]),
        threshold=float(gold["pass_threshold"]),
    )


def next_gold(spec: Mapping[str, Any], answered: Sequence[str]) -> tuple[int, Mapping[str, Any]]:
    """(position, gold item) of the first unanswered gold item (there must be one)."""
    done = set(answered)
    return next((i, g) for i, g in enumerate(gold_items(spec)) if g["id"] not in done)


@dataclass(frozen=True)
class Answered:
    answer: QualificationAnswer | None
    problems: list[str]


def record_answer(
    participant: Participant, gold_id: str, values: Mapping[str, Any], rationales, now: datetime
) -> Answered:
    """Check and store one answer to the gold item the participant is on. A second answer
    to the same item (a double click, a reload) keeps the first."""
    spec = participant.study.spec
    st = status(participant)
    if st.finished:
        return Answered(None, ["the qualification is already finished"])
    _, gold = next_gold(spec, st.answered)
    if gold_id != gold["id"]:
        stored = QualificationAnswer.objects.filter(participant=participant, gold_id=gold_id)
        found = stored.first()
        return Answered(found, [] if found else ["that is not the item expected next"])
    answers = clean_answers(spec["dimensions"], values or {}, rationales or {})
    if not answers.ok:
        return Answered(None, answers.problems)
    correct = attention_passed(gold["expect"], answers.values)
    try:
        with transaction.atomic():
            row = QualificationAnswer.objects.create(
                participant=participant,
                gold_id=gold_id,
                values=answers.values,
                correct=correct,
                answered_at=now,
            )
    except IntegrityError:
        row = QualificationAnswer.objects.get(participant=participant, gold_id=gold_id)
    return Answered(row, [])


def expected_answers(spec: Mapping[str, Any], gold: Mapping[str, Any]) -> list[str]:
    """The known answer of a gold item in words, one line per dimension it checks
    ("Empathy: from 0 to 20", "Fluent: No")."""
    lines = []
    for dim in spec["dimensions"]:
        if dim["key"] not in gold["expect"]:
            continue
        cond = gold["expect"][dim["key"]]
        label = dim.get("label") or dim["key"]
        if isinstance(cond, Mapping):
            low, high = cond.get("min"), cond.get("max")
            if low is not None and high is not None:
                said = f"from {low:g} to {high:g}"
            else:
                said = f"at least {low:g}" if low is not None else f"at most {high:g}"
        else:
            accepted = cond if isinstance(cond, list | tuple) else [cond]
            texts = dict(dimension_of(dim).options())
            said = " or ".join(str(texts.get(v, _said(v))) for v in accepted)
        lines.append(f"{label}: {said}")
    return lines


def given_answers(spec: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    """The annotator's answers in words, one line per dimension answered."""
    lines = []
    for dim in spec["dimensions"]:
        if dim["key"] not in values:
            continue
        value = values[dim["key"]]
        texts = dict(dimension_of(dim).options())
        shown = f"{value:g}" if isinstance(value, float) else texts.get(value, _said(value))
        lines.append(f"{dim.get('label') or dim['key']}: {shown}")
    return lines


def _said(value: Any) -> Any:
    if isinstance(value, bool):  # a checkbox: ticked or not
        return "ticked" if value else "not ticked"
    return value
