"""An annotator's answers checked against the study's dimensions (pure).

Values arrive from a form or JSON; the result is the clean value per dimension key, or a
list of problems naming the dimension and the reason. Each dimension type's rules are its
class in ``annotation.dimensions``; this module applies them to a whole submission.
Nothing is stored here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from annotation import dimensions as _dimensions
from annotation.dimensions import ChoiceDimension, DimensionBase

__all__ = ["CleanAnswers", "attention_passed", "clean_answers", "swap_sides"]


@dataclass
class CleanAnswers:
    values: dict[str, Any] = field(default_factory=dict)
    rationales: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def clean_answers(
    dimensions: Sequence[Mapping[str, Any] | DimensionBase],
    raw_values: Mapping[str, Any],
    raw_rationales: Mapping[str, Any] | None = None,
) -> CleanAnswers:
    """Check ``raw_values`` (dimension key -> submitted value) against ``dimensions``
    (stored dimension dicts or dimension objects).

    Unknown keys, missing required answers, wrong types and out-of-range values are
    problems (each type's rules: ``DimensionBase.clean``). Problems are shown to
    annotators, so a known dimension is named by its label (the key only when it has none).
    """
    result = CleanAnswers()
    raw_rationales = raw_rationales or {}
    dims = _dimensions.dimensions_of(dimensions)
    known = {d.key for d in dims}
    for key in sorted(set(raw_values) - known):
        result.problems.append(
            f"{key}: unknown dimension (expected one of {', '.join(sorted(known))})"
        )
    for key in sorted(set(raw_rationales) - known):
        result.problems.append(f"{key}: rationale for an unknown dimension")
    for dim in dims:
        answer = dim.clean(raw_values.get(dim.key), raw_rationales.get(dim.key))
        result.problems += answer.problems
        if answer.has_value:
            result.values[dim.key] = answer.value
        if answer.rationale:
            result.rationales[dim.key] = answer.rationale
    return result


def attention_passed(expect: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Did the answers ``values`` (dimension key -> stored value) meet every condition of
    an attention check's normalised ``expect``? See ``dimensions.attention_passed``."""
    return _dimensions.attention_passed(expect, values)


def swap_sides(expect: Mapping[str, Any]) -> dict[str, Any]:
    """The expectation of a pairwise check shown with response_b on the left.

    Judgments store ``a`` for the left response; when a check's response_b is shown left,
    an expected ``a`` (response_a) becomes ``b`` and vice versa. Other conditions are kept.
    """
    return {
        key: dict(condition)
        if isinstance(condition, Mapping)
        else ChoiceDimension.swap_condition(condition)
        for key, condition in expect.items()
    }
