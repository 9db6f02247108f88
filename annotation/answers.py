"""Validation of an annotator's answers against the study's dimensions (pure).

Values arrive from a form or JSON; the result is the clean value per dimension key, or a
list of problems naming the dimension and the reason. Nothing is stored by this module.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CHOICES = ("a", "b", "tie")


@dataclass
class CleanAnswers:
    values: dict[str, Any] = field(default_factory=dict)
    rationales: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def clean_answers(
    dimensions: list[dict], raw_values: Mapping[str, Any], raw_rationales: Mapping[str, Any] | None = None
) -> CleanAnswers:
    """Check `raw_values` (dimension key → submitted value) against `dimensions`.

    Unknown keys, missing required answers, wrong types and out-of-range values are
    problems. Slider values are numbers in [0, 100]; a checkbox is true/false (absent means
    false: an unticked box sends nothing); likert is an integer 1..points; choice is one of
    a / b / tie (tie only when allowed). Problems are shown to annotators, so a known
    dimension is named by its label (the key only when it has none).
    """
    result = CleanAnswers()
    raw_rationales = raw_rationales or {}
    known = {d["key"] for d in dimensions}
    for key in sorted(set(raw_values) - known):
        result.problems.append(f"{key}: unknown dimension (expected one of {', '.join(sorted(known))})")
    for key in sorted(set(raw_rationales) - known):
        result.problems.append(f"{key}: rationale for an unknown dimension")

    for dim in dimensions:
        key, kind = dim["key"], dim["type"]
        name = dim.get("label") or key
        raw = raw_values.get(key)
        if isinstance(raw, str):
            raw = raw.strip()
        missing = raw is None or raw == ""
        if kind == "checkbox":
            if missing:
                result.values[key] = False
            elif isinstance(raw, bool):
                result.values[key] = raw
            elif str(raw).lower() in {"true", "on", "1", "yes"}:
                result.values[key] = True
            elif str(raw).lower() in {"false", "off", "0", "no"}:
                result.values[key] = False
            else:
                result.problems.append(f"{name}: {raw!r} is not true or false")
            continue
        if missing:
            if dim.get("required", True):
                what = "move the slider to answer" if kind == "slider" else "choose an answer"
                result.problems.append(f"{name}: {what}")
            continue
        if kind == "slider":
            number = _number(raw)
            if number is None or not 0 <= number <= 100:
                result.problems.append(f"{name}: {raw!r} is not a number from 0 to 100")
            else:
                result.values[key] = int(number) if float(number).is_integer() else number
        elif kind == "likert":
            points = int(dim["points"])
            number = _number(raw)
            if number is None or not float(number).is_integer() or not 1 <= number <= points:
                result.problems.append(f"{name}: {raw!r} is not a whole number from 1 to {points}")
            else:
                result.values[key] = int(number)
        elif kind == "choice":
            choice = str(raw).lower()
            allowed = CHOICES if dim.get("allow_tie", True) else CHOICES[:2]
            if choice not in allowed:
                result.problems.append(f"{name}: {raw!r} is not one of {', '.join(allowed)}")
            else:
                result.values[key] = choice
            rationale = str(raw_rationales.get(key) or "").strip()
            policy = dim.get("rationale", "none")
            if rationale and policy == "none":
                result.problems.append(f"{name}: this question takes no rationale")
            elif not rationale and policy == "required":
                result.problems.append(f"{name}: a rationale is required")
            elif rationale:
                result.rationales[key] = rationale[:5000]
        else:  # pragma: no cover - the spec validator rejects other types
            result.problems.append(f"{name}: unsupported dimension type {kind!r}")
    return result


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------- attention checks


def attention_passed(expect: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Did the answers ``values`` (dimension key → stored value) meet every condition?

    ``expect`` is an attention check's normalised expectation (``spec.AttentionCheckSpec``):
    per dimension key either ``{"min": n, "max": n}`` (a slider; bounds inclusive, either
    may be missing) or a list of accepted answers (checkbox true/false, likert 1..points,
    choice a / b / tie, compared without case). A bare value counts as a one-item list.
    A dimension with a condition that was not answered fails the check. Pure.
    """
    for key, condition in expect.items():
        if key not in values or values[key] is None or values[key] == "":
            return False
        value = values[key]
        if isinstance(condition, Mapping):
            number = _number(value)
            if number is None:
                return False
            low, high = condition.get("min"), condition.get("max")
            if low is not None and number < low:
                return False
            if high is not None and number > high:
                return False
            continue
        accepted = condition if isinstance(condition, list | tuple) else [condition]
        if not any(_same_answer(value, ok) for ok in accepted):
            return False
    return True


def _same_answer(value: Any, accepted: Any) -> bool:
    if isinstance(accepted, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(accepted, bool) and value is accepted
    if isinstance(accepted, str) or isinstance(value, str):
        return str(value).strip().lower() == str(accepted).strip().lower()
    return value == accepted


def swap_sides(expect: Mapping[str, Any]) -> dict[str, Any]:
    """The expectation of a pairwise check shown with response_b on the left.

    Judgments store ``a`` for the left response; when a check's response_b is shown left,
    an expected ``a`` (response_a) becomes ``b`` and vice versa. Other conditions are kept.
    """
    swap = {"a": "b", "b": "a"}
    out: dict[str, Any] = {}
    for key, condition in expect.items():
        if isinstance(condition, Mapping):
            out[key] = dict(condition)
            continue
        accepted = condition if isinstance(condition, list | tuple) else [condition]
        out[key] = [
            swap.get(v.lower(), v) if isinstance(v, str) else v for v in accepted
        ]
    return out
