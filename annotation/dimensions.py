"""The dimension types: one object per type owns every rule about its answers (pure).

A dimension is one question of a study (``dimensions`` in the spec). Its type says how it
is asked and answered; the class of that type is the one place that knows

* its fields in the spec (a pydantic model; the spec's ``dimensions`` are a union of these
  classes, told apart by ``type``),
* how a submitted answer is parsed and checked (``clean``; messages name it by its label),
* which answers the spec's solved example may give (``example_problem``),
* what an attention-check condition on it means (``condition`` normalises and checks one,
  ``meets`` scores an answer against it),
* its agreement level for the analysis (``agreement``: interval / nominal / ordinal),
* how its answer is exported (``export``), and how it is drawn (``template``, ``options``,
  ``shown_example``) -- the item page's form field is built from these in
  ``annotation.views.forms``.

Adding a type is one class here (added to ``Dimension``) plus its template under
``annotation/templates/annotation/dimensions/``.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, Strict, TypeAdapter, ValidationError, field_validator, model_validator

from annotation.spec_fields import Flag, SpecModel, Text, located, meaning
from core.vocabulary import Choice, DimensionType

__all__ = [
    "Answer",
    "CheckboxDimension",
    "ChoiceDimension",
    "Dimension",
    "DimensionBase",
    "LikertDimension",
    "SliderDimension",
    "attention_passed",
    "dimension_of",
    "dimensions_of",
]

KEY = meaning(
    r"^[A-Za-z_][A-Za-z0-9_]*$",
    "an identifier (letters, digits, underscores; not starting with a digit)",
)
Key = Annotated[str, Strict(), Field(pattern=KEY)]
Agreement = Literal["interval", "nominal", "ordinal"]
TEMPLATES = "annotation/dimensions/"


@dataclass
class Answer:
    """One dimension's submitted answer, cleaned: the value (when there is one), the
    rationale (when given and allowed) and the problems, each naming the dimension."""

    value: Any = None
    has_value: bool = False
    rationale: str | None = None
    problems: list[str] = field(default_factory=list)


def _number(raw: Any) -> float | None:
    """A finite number from a form string or a JSON number; never from a boolean."""
    if isinstance(raw, bool):
        return None
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _same_answer(value: Any, accepted: Any) -> bool:
    if isinstance(accepted, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(accepted, bool) and value is accepted
    if isinstance(accepted, str) or isinstance(value, str):
        return str(value).strip().lower() == str(accepted).strip().lower()
    return bool(value == accepted)


class DimensionBase(SpecModel):
    """What every dimension type has; subclasses add their fields and value rules."""

    key: Key
    label: Text
    statement: Text
    required: Flag = True

    agreement: ClassVar[Agreement]
    template: ClassVar[str]
    unanswered: ClassVar[str] = "choose an answer"  # what a missing required answer asks
    many: ClassVar[bool] = False  # its form field sends several values (a list)

    # -- the spec
    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "statement": self.statement,
            "type": self.type_name,
            "required": self.required,
            **self.own_fields(),
        }

    def own_fields(self) -> dict[str, Any]:
        """This type's fields as ``to_dict`` writes them."""
        return {}

    @property
    def type_name(self) -> str:
        return type(self).type_value()

    @classmethod
    def type_value(cls) -> str:
        """The ``type`` a spec writes for this dimension type."""
        return str(typing.get_args(cls.model_fields["type"].annotation)[0])

    @property
    def name(self) -> str:
        """How messages to annotators name this dimension: its label (the key without one)."""
        return self.label or self.key

    # -- a submitted answer
    def clean(self, raw: Any, rationale: Any = None) -> Answer:
        """Parse and check a submitted answer (a form string or a JSON value)."""
        if isinstance(raw, str):
            raw = raw.strip()
        if raw is None or raw == "":
            if self.required:
                return Answer(problems=[f"{self.name}: {self.unanswered}"])
            return Answer()
        value, problem = self.parse(raw)
        if problem is not None:
            return Answer(problems=[f"{self.name}: {problem}"])
        return Answer(value=value, has_value=True)

    def parse(self, raw: Any) -> tuple[Any, str | None]:
        """(value, None) or (None, the problem) for a given, non-empty answer."""
        raise NotImplementedError

    # -- the spec's solved example
    def example_problem(self, value: Any) -> str | None:
        raise NotImplementedError

    # -- attention checks
    def allowed_answers(self) -> list[Any]:
        """Every answer, in the dimension's order (a condition accepts some of them)."""
        raise NotImplementedError

    def condition_text(self) -> str:
        raise NotImplementedError

    def condition(self, cond: Any) -> tuple[Any, str | None]:
        """(normalised condition, None) or (None, the problem): the accepted answers,
        as a list in the dimension's order (a bare value is a one-item list)."""
        values = list(cond) if isinstance(cond, list) else [cond]
        if not values:
            return None, "an empty list accepts no answer; give the accepted answers"
        values = [self.condition_value(v) for v in values]
        allowed = self.allowed_answers()
        bad = [v for v in values if not any(_same_type_and_value(v, a) for a in allowed)]
        if bad:
            return None, f"{bad[0]!r} is not an answer here: expected {self.condition_text()}"
        accepted = [a for a in allowed if any(_same_type_and_value(v, a) for v in values)]
        if len(accepted) == len(allowed):
            return None, "accepts every answer; a check must rule some out"
        return accepted, None

    def condition_value(self, value: Any) -> Any:
        """A value of a condition as written in the spec, before it is checked."""
        return value

    @staticmethod
    def meets(condition: Any, value: Any) -> bool:
        """Does the stored answer ``value`` meet a normalised ``condition``?"""
        accepted = condition if isinstance(condition, list | tuple) else [condition]
        return any(_same_answer(value, ok) for ok in accepted)

    # -- showing and exporting
    def options(self) -> list[tuple[Any, str]]:
        """The (value, text) an annotator chooses from; none for a free control."""
        return []

    def shown_example(self, value: Any) -> dict[str, Any]:
        """The solved example's answer, ready to draw as this dimension's control."""
        chosen = [(v, text) for v, text in self.options() if _same_answer(value, v)]
        return {
            "options": [
                {"value": v, "text": text, "chosen": _same_answer(value, v)}
                for v, text in self.options()
            ],
            "text": chosen[0][1] if chosen else str(value),
        }

    def export(self, value: Any, system_a: str = "", system_b: str = "") -> dict[str, Any]:
        """The exported columns of one answer: ``value`` and ``preferred_system``."""
        return {"value": value, "preferred_system": ""}


def _same_type_and_value(value: Any, allowed: Any) -> bool:
    # True == 1 in Python; a checkbox condition of 1 is not true.
    return type(value) is type(allowed) and value == allowed


class SliderDimension(DimensionBase):
    """0-100, starts with no value (no anchor at 50); the annotator must move it."""

    type: Literal[DimensionType.SLIDER]
    min_label: Text = "Strongly disagree"
    max_label: Text = "Strongly agree"
    show_value: Flag = False

    agreement: ClassVar[Agreement] = "interval"
    template: ClassVar[str] = TEMPLATES + "slider.html"
    unanswered: ClassVar[str] = "move the slider to answer"

    def own_fields(self) -> dict[str, Any]:
        return {
            "min_label": self.min_label,
            "max_label": self.max_label,
            "show_value": self.show_value,
        }

    def parse(self, raw: Any) -> tuple[Any, str | None]:
        number = _number(raw)
        if number is None or not 0 <= number <= 100:
            return None, f"{raw!r} is not a number from 0 to 100"
        return (int(number) if float(number).is_integer() else number), None

    def example_problem(self, value: Any) -> str | None:
        if not _is_number(value) or not 0 <= value <= 100:
            return f"must be a number from 0 to 100, got {value!r}"
        return None

    def condition(self, cond: Any) -> tuple[Any, str | None]:
        """A slider's condition is a range, ``{min: N}`` and/or ``{max: N}`` (inclusive)."""
        if not isinstance(cond, Mapping):
            return None, (
                f"a slider condition is {{min: N}} and/or {{max: N}} (0-100), got {cond!r}"
            )
        unknown = [str(k) for k in cond if k not in ("min", "max")]
        if unknown:
            return None, f"unknown condition {', '.join(unknown)} (a slider takes min and/or max)"
        bounds = {k: cond[k] for k in ("min", "max") if cond.get(k) is not None}
        if not bounds:
            return None, "give min and/or max (0-100)"
        for k, v in bounds.items():
            if not _is_number(v):
                return None, f"{k} must be a number from 0 to 100, got {v!r}"
            if not 0 <= v <= 100:
                return None, f"{k} {v} is outside 0–100"
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            return None, f"min {bounds['min']} is above max {bounds['max']}"
        if bounds.get("min", 0) <= 0 and bounds.get("max", 100) >= 100:
            return None, "accepts every answer (0–100); narrow it with min or max"
        return bounds, None

    @staticmethod
    def meets(condition: Any, value: Any) -> bool:
        number = _number(value)
        if number is None:
            return False
        low, high = condition.get("min"), condition.get("max")
        return not (low is not None and number < low) and not (high is not None and number > high)

    def shown_example(self, value: Any) -> dict[str, Any]:
        return {"number": float(value), "percent": max(0.0, min(100.0, float(value)))}


def _checkbox_required(value: Any) -> Any:
    if value is True:
        raise located(
            ("", "a checkbox is always answered (unticked = false); leave 'required' out")
        )
    if value is not False:
        raise located(("", f"must be true or false, got {value!r}"))
    return value


class CheckboxDimension(DimensionBase):
    """True / false; an unticked box sends nothing and means false, so it is never missing."""

    type: Literal[DimensionType.CHECKBOX]
    required: Annotated[bool, Field(strict=True)] = False

    agreement: ClassVar[Agreement] = "nominal"
    template: ClassVar[str] = TEMPLATES + "checkbox.html"

    _required = field_validator("required", mode="before")(_checkbox_required)

    TRUE: ClassVar[frozenset[str]] = frozenset({"true", "on", "1", "yes"})
    FALSE: ClassVar[frozenset[str]] = frozenset({"false", "off", "0", "no"})

    def clean(self, raw: Any, rationale: Any = None) -> Answer:
        if isinstance(raw, str):
            raw = raw.strip()
        if raw is None or raw == "":
            return Answer(value=False, has_value=True)
        return super().clean(raw, rationale)

    def parse(self, raw: Any) -> tuple[Any, str | None]:
        if isinstance(raw, bool):
            return raw, None
        text = str(raw).lower()
        if text in self.TRUE or text in self.FALSE:
            return text in self.TRUE, None
        return None, f"{raw!r} is not true or false"

    def example_problem(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"

    def allowed_answers(self) -> list[Any]:
        return [True, False]

    def condition_text(self) -> str:
        return "true or false (or a list of them)"

    def shown_example(self, value: Any) -> dict[str, Any]:
        return {"checked": bool(value), "text": "Yes" if value else "No"}


def _labels_ok(labels: Any) -> bool:
    return isinstance(labels, list) and all(isinstance(v, str) and v.strip() for v in labels)


def _label_list(value: Any) -> Any:
    if not _labels_ok(value):
        raise located(("", "must be a list of non-empty strings"))
    return value


class LikertDimension(DimensionBase):
    """1..points (2-11), optionally with a label per point."""

    type: Literal[DimensionType.LIKERT]
    points: Annotated[int, Field(strict=True, ge=2, le=11)] = 5
    labels: tuple[str, ...] | None = None

    agreement: ClassVar[Agreement] = "ordinal"
    template: ClassVar[str] = TEMPLATES + "likert.html"

    _labels = field_validator("labels", mode="before")(_label_list)

    @model_validator(mode="before")
    @classmethod
    def _points_from_labels(cls, data: Any) -> Any:
        # Without points, a labelled scale has as many points as labels.
        if isinstance(data, Mapping) and data.get("points") is None:
            labels = data.get("labels")
            if isinstance(labels, list) and _labels_ok(labels) and 2 <= len(labels) <= 11:
                return {**data, "points": len(labels)}
        return data

    @model_validator(mode="after")
    def _one_label_per_point(self) -> LikertDimension:
        if self.labels is not None and len(self.labels) != self.points:
            raise located(("labels", f"has {len(self.labels)} labels but points is {self.points}"))
        return self

    def own_fields(self) -> dict[str, Any]:
        return {"points": self.points, "labels": list(self.labels) if self.labels else None}

    def parse(self, raw: Any) -> tuple[Any, str | None]:
        number = _number(raw)
        if number is None or not float(number).is_integer() or not 1 <= number <= self.points:
            return None, f"{raw!r} is not a whole number from 1 to {self.points}"
        return int(number), None

    def example_problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= self.points:
            return f"must be an integer from 1 to {self.points}, got {value!r}"
        return None

    def allowed_answers(self) -> list[Any]:
        return list(range(1, self.points + 1))

    def condition_text(self) -> str:
        return f"a whole number from 1 to {self.points} (or a list of them)"

    def options(self) -> list[tuple[Any, str]]:
        labels = self.labels or ()
        return [
            (i, labels[i - 1] if len(labels) >= i else str(i)) for i in range(1, self.points + 1)
        ]


#: How a spec writes each choice (judgments store the vocabulary's lower-case values).
SPEC_CHOICES = {Choice.A: "A", Choice.B: "B", Choice.TIE: "tie"}
CHOICE_OPTIONS = ((Choice.A, "A"), (Choice.TIE, "Tie"), (Choice.B, "B"))  # screen order


class ChoiceDimension(DimensionBase):
    """A / B / tie between the two responses of a pairwise item, with an optional rationale."""

    type: Literal[DimensionType.CHOICE]
    allow_tie: Flag = True
    rationale: Literal["none", "optional", "required"] = "none"

    agreement: ClassVar[Agreement] = "nominal"
    template: ClassVar[str] = TEMPLATES + "choice.html"

    MAX_RATIONALE: ClassVar[int] = 5000

    def own_fields(self) -> dict[str, Any]:
        return {"allow_tie": self.allow_tie, "rationale": self.rationale}

    def choices(self) -> list[Choice]:
        return [c for c in Choice if c is not Choice.TIE or self.allow_tie]

    def clean(self, raw: Any, rationale: Any = None) -> Answer:
        answer = super().clean(raw, rationale)
        if isinstance(raw, str):
            raw = raw.strip()
        if raw is None or raw == "":
            return answer  # no answer, so no rationale is judged
        text = str(rationale or "").strip()
        if text and self.rationale == "none":
            answer.problems.append(f"{self.name}: this question takes no rationale")
        elif not text and self.rationale == "required":
            answer.problems.append(f"{self.name}: a rationale is required")
        elif len(text) > self.MAX_RATIONALE:
            # refused, never cut: the annotator shortens it (the form's maxlength says so)
            answer.problems.append(
                f"{self.name}: the rationale is {len(text):,} characters long; "
                f"at most {self.MAX_RATIONALE:,} are kept"
            )
        elif text:
            answer.rationale = text
        return answer

    def parse(self, raw: Any) -> tuple[Any, str | None]:
        choice = str(raw).lower()
        allowed = [c.value for c in self.choices()]
        if choice not in allowed:
            return None, f"{raw!r} is not one of {', '.join(allowed)}"
        return choice, None

    def example_problem(self, value: Any) -> str | None:
        allowed = [SPEC_CHOICES[c] for c in self.choices()]
        if value not in allowed:
            return f"must be one of {', '.join(allowed)}, got {value!r}"
        return None

    def allowed_answers(self) -> list[Any]:
        return [c.value for c in self.choices()]

    def condition_value(self, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    def condition_text(self) -> str:
        return f"{' / '.join(SPEC_CHOICES[c] for c in self.choices())} (or a list of them)"

    @staticmethod
    def swap_condition(condition: Any) -> list[Any]:
        """The condition with the sides exchanged (a pairwise check shown B on the left)."""
        swap = {Choice.A.value: Choice.B.value, Choice.B.value: Choice.A.value}
        accepted = condition if isinstance(condition, list | tuple) else [condition]
        return [swap.get(v.lower(), v) if isinstance(v, str) else v for v in accepted]

    def options(self) -> list[tuple[Any, str]]:
        return [(c.value, text) for c, text in CHOICE_OPTIONS if c in self.choices()]

    def shown_example(self, value: Any) -> dict[str, Any]:
        shown = super().shown_example(str(value).lower())
        shown["text"] = dict(CHOICE_OPTIONS).get(str(value).lower(), str(value))  # type: ignore[call-overload]
        return shown

    def export(self, value: Any, system_a: str = "", system_b: str = "") -> dict[str, Any]:
        """The preferred system is the one chosen (side A is shown on the left), or tie."""
        sides = {Choice.A.value: system_a, Choice.B.value: system_b}
        return {"value": value, "preferred_system": sides.get(value, Choice.TIE.value)}


#: The spec's ``dimensions[i]``: one of the types, told apart by ``type``.
Dimension = Annotated[
    SliderDimension | CheckboxDimension | LikertDimension | ChoiceDimension,
    Field(discriminator="type"),
]
TYPES: dict[str, type[DimensionBase]] = {
    DimensionType.SLIDER: SliderDimension,
    DimensionType.CHECKBOX: CheckboxDimension,
    DimensionType.LIKERT: LikertDimension,
    DimensionType.CHOICE: ChoiceDimension,
}
_ONE = TypeAdapter(Dimension)

# A field of another type is misplaced, not unknown: say which type it belongs to; an
# unknown field's message offers every type's fields.
_ALL_FIELDS = tuple(dict.fromkeys(f for cls in TYPES.values() for f in cls.model_fields))
for _cls in TYPES.values():
    _cls.listed = _ALL_FIELDS
    _cls.misplaced = {
        name: f"applies only to {other.type_value()} dimensions (this one is {_cls.type_value()})"
        for other in TYPES.values()
        if other is not _cls
        for name in other.model_fields
        if name not in DimensionBase.model_fields and name != "type"
    }


def dimension_of(data: Mapping[str, Any] | DimensionBase) -> DimensionBase:
    """The dimension object of a stored dimension (``StudySpec.to_dict()``'s form).

    Stored dimensions were checked when the study was created; one that does not pass
    the spec's checks again (a hand-written one without label or statement) is taken as
    it is, with the type's defaults for what it leaves out.
    """
    if isinstance(data, DimensionBase):
        return data
    try:
        return _ONE.validate_python(data)
    except ValidationError:
        pass
    cls = TYPES[data["type"]]
    given = {k: v for k, v in data.items() if v is not None and k in cls.model_fields}
    return cls.model_construct(**{"label": "", "statement": "", **given})


def dimensions_of(data: Sequence[Mapping[str, Any] | DimensionBase]) -> list[DimensionBase]:
    return [dimension_of(d) for d in data]


def validate_dimension(data: Any) -> DimensionBase:
    """A dimension checked as the spec checks it (raises pydantic's ValidationError)."""
    return _ONE.validate_python(data)


def attention_passed(expect: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Did the answers ``values`` (dimension key -> stored value) meet every condition?

    ``expect`` holds normalised conditions (``DimensionBase.condition``): a range mapping
    is a slider's, a list (or bare value) of accepted answers any other type's. A
    dimension with a condition that was not answered fails the check.
    """
    for key, condition in expect.items():
        value = values.get(key)
        if value is None or value == "":
            return False
        rule = SliderDimension if isinstance(condition, Mapping) else DimensionBase
        if not rule.meets(condition, value):
            return False
    return True
