"""The dimension types (annotation/dimensions.py): each type's value rules in one object,
and the item page's form built from them (annotation/views/forms.py)."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from annotation.dimensions import (
    TYPES,
    CheckboxDimension,
    ChoiceDimension,
    LikertDimension,
    SliderDimension,
    attention_passed,
    dimension_of,
    validate_dimension,
)
from annotation.views.forms import JudgmentForm
from core.vocabulary import DimensionType, values

SLIDER = {"key": "empathy", "label": "Empathy", "statement": "S", "type": "slider"}
CHECKBOX = {"key": "fluent", "label": "Fluent", "statement": "F", "type": "checkbox"}
LIKERT = {
    "key": "clarity",
    "label": "Clarity",
    "statement": "C",
    "type": "likert",
    "labels": ["a", "b", "c"],
}
CHOICE = {
    "key": "overall",
    "label": "Overall",
    "statement": "O",
    "type": "choice",
    "rationale": "optional",
}


def test_one_class_per_dimension_type():
    assert sorted(TYPES) == sorted(values(DimensionType))
    for name, cls in TYPES.items():
        assert cls.type_value() == name
        assert cls.template == f"annotation/dimensions/{name}.html"


def test_agreement_levels_are_the_ones_the_analysis_uses():
    from analysis.study_analysis import LEVELS

    assert {name: cls.agreement for name, cls in TYPES.items()} == LEVELS


def test_spec_dimensions_become_their_type_with_defaults():
    slider = validate_dimension(SLIDER)
    assert isinstance(slider, SliderDimension) and slider.required and not slider.show_value
    assert slider.to_dict()["min_label"] == "Strongly disagree"
    likert = validate_dimension(LIKERT)
    assert isinstance(likert, LikertDimension) and likert.points == 3
    assert likert.options() == [(1, "a"), (2, "b"), (3, "c")]
    checkbox = validate_dimension(CHECKBOX)
    assert isinstance(checkbox, CheckboxDimension) and checkbox.required is False
    assert validate_dimension(CHOICE).options() == [("a", "A"), ("tie", "Tie"), ("b", "B")]
    no_tie = validate_dimension({**CHOICE, "allow_tie": False})
    assert [v for v, _ in no_tie.options()] == ["a", "b"]


def test_a_stored_dimension_needs_no_label_and_is_named_by_its_key():
    loose = dimension_of({"key": "empathy", "type": "slider"})
    assert loose.name == "empathy" and loose.required
    assert loose.clean("").problems == ["empathy: move the slider to answer"]
    assert dimension_of(SLIDER).name == "Empathy"


@pytest.mark.parametrize(
    "dim, raw, value, problem",
    [
        (SLIDER, " 37.5 ", 37.5, None),
        (SLIDER, "40", 40, None),
        (SLIDER, "101", None, "Empathy: '101' is not a number from 0 to 100"),
        (SLIDER, "nan", None, "Empathy: 'nan' is not a number from 0 to 100"),
        (CHECKBOX, "on", True, None),
        (CHECKBOX, None, False, None),
        (CHECKBOX, "maybe", None, "Fluent: 'maybe' is not true or false"),
        (LIKERT, "2", 2, None),
        (LIKERT, "2.5", None, "Clarity: '2.5' is not a whole number from 1 to 3"),
        (LIKERT, "", None, "Clarity: choose an answer"),
        (CHOICE, "TIE", "tie", None),
        (CHOICE, "c", None, "Overall: 'c' is not one of a, b, tie"),
    ],
)
def test_each_type_cleans_its_submitted_answer(dim, raw, value, problem):
    answer = dimension_of(dim).clean(raw)
    assert answer.problems == ([problem] if problem else [])
    assert answer.value == value


def test_a_choice_owns_its_rationale_rule():
    optional = dimension_of(CHOICE)
    assert optional.clean("a", "  because  ").rationale == "because"
    assert dimension_of({**CHOICE, "rationale": "none"}).clean("a", "x").problems == [
        "Overall: this question takes no rationale"
    ]
    assert dimension_of({**CHOICE, "rationale": "required"}).clean("b", "").problems == [
        "Overall: a rationale is required"
    ]


@pytest.mark.parametrize(
    "dim, condition, normal, passing, failing",
    [
        (SLIDER, {"max": 30}, {"max": 30}, 30, 31),
        (CHECKBOX, False, [False], False, True),
        (LIKERT, [3, 1, 3], [1, 3], 3, 2),
        (CHOICE, ["TIE", "a"], ["a", "tie"], "tie", "b"),
    ],
)
def test_each_type_owns_its_attention_condition(dim, condition, normal, passing, failing):
    dimension = dimension_of(dim)
    got, problem = dimension.condition(condition)
    assert problem is None and got == normal
    assert dimension.meets(got, passing) and not dimension.meets(got, failing)
    key = dim["key"]
    assert attention_passed({key: got}, {key: passing})
    assert not attention_passed({key: got}, {key: failing})


def test_the_solved_example_is_checked_by_its_type():
    assert dimension_of(SLIDER).example_problem(50) is None
    assert dimension_of(CHECKBOX).example_problem("yes") == "must be true or false, got 'yes'"
    assert dimension_of(CHOICE).example_problem("A") is None
    assert dimension_of(CHOICE).example_problem("a") == "must be one of A, B, tie, got 'a'"


def test_a_choice_exports_the_preferred_system():
    choice = dimension_of(CHOICE)
    assert choice.export("a", "left-sys", "right-sys")["preferred_system"] == "left-sys"
    assert choice.export("b", "left-sys", "right-sys")["preferred_system"] == "right-sys"
    assert choice.export("tie", "left-sys", "right-sys")["preferred_system"] == "tie"
    assert dimension_of(SLIDER).export(40) == {"value": 40, "preferred_system": ""}


def test_swapping_sides_exchanges_a_and_b_only():
    assert ChoiceDimension.swap_condition(["a", "tie"]) == ["b", "tie"]
    assert ChoiceDimension.swap_condition("B") == ["a"]


# --------------------------------------------------------------------------- the form


def test_the_form_has_a_field_per_dimension_and_a_rationale_where_one_is_taken():
    form = JudgmentForm([SLIDER, CHECKBOX, LIKERT, CHOICE])
    assert list(form.fields) == [
        "value__empathy",
        "value__fluent",
        "value__clarity",
        "value__overall",
        "rationale__overall",
    ]
    rows = form.rows()
    assert [r["template"] for r in rows] == [
        f"annotation/dimensions/{t}.html" for t in ("slider", "checkbox", "likert", "choice")
    ]
    assert rows[3]["rationale_field"] == "rationale__overall" and rows[0]["rationale_field"] == ""
    assert all(r["submitted"] == "" for r in rows)


def test_the_form_reads_the_post_and_checks_it_with_the_dimension_rules():
    post = QueryDict(mutable=True)
    post.update(
        {
            "value__empathy": "30",
            "value__clarity": "9",
            "value__bogus": "1",
            "rationale__overall": "  ",
            "entry_id": "4",
        }
    )
    form = JudgmentForm([SLIDER, CHECKBOX, LIKERT, CHOICE], post)
    values_sent, rationales = form.answers()
    assert values_sent == {"empathy": "30", "clarity": "9", "bogus": "1"}
    assert rationales == {}  # a blank rationale is no rationale
    assert not form.is_valid()
    assert form.non_field_errors() == [
        "bogus: unknown dimension (expected one of clarity, empathy, fluent, overall)",
        "Clarity: '9' is not a whole number from 1 to 3",
        "Overall: choose an answer",
    ]
    assert form.rows()[0]["submitted"] == "30"  # a refused submit keeps the answers
    post.update({"value__clarity": "2", "value__overall": "B"})
    post.pop("value__bogus")
    form = JudgmentForm([SLIDER, CHECKBOX, LIKERT, CHOICE], post)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["values"] == {
        "empathy": 30,
        "fluent": False,
        "clarity": 2,
        "overall": "b",
    }
