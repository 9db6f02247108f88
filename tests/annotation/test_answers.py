from annotation.answers import attention_passed, clean_answers, swap_sides

DIMS = [
    {"key": "empathy", "type": "slider", "required": True},
    {"key": "fluent", "type": "checkbox"},
    {"key": "clarity", "type": "likert", "points": 5},
    {"key": "overall", "type": "choice", "allow_tie": False, "rationale": "required"},
]


def test_valid_answers_are_cleaned():
    result = clean_answers(
        DIMS,
        {"empathy": "37", "fluent": "true", "clarity": "4", "overall": "B"},
        {"overall": "clearer"},
    )
    assert result.ok, result.problems
    assert result.values == {"empathy": 37, "fluent": True, "clarity": 4, "overall": "b"}
    assert result.rationales == {"overall": "clearer"}


def test_unticked_checkbox_means_false():
    result = clean_answers(DIMS, {"empathy": 0, "clarity": 1, "overall": "a"}, {"overall": "x"})
    assert result.ok and result.values["fluent"] is False


def test_every_problem_is_named():
    result = clean_answers(
        DIMS, {"empathy": "101", "fluent": "maybe", "clarity": "6", "overall": "tie", "bogus": 1}
    )
    text = "\n".join(result.problems)
    assert "bogus: unknown dimension" in text
    assert "empathy: '101' is not a number from 0 to 100" in text
    assert "fluent: 'maybe' is not true or false" in text
    assert "clarity: '6' is not a whole number from 1 to 5" in text
    assert "overall: 'tie' is not one of a, b" in text
    assert "overall: a rationale is required" in text
    assert not result.ok


def test_unmoved_slider_is_refused():
    result = clean_answers(DIMS[:1], {"empathy": ""})
    assert result.problems == ["empathy: move the slider to answer"]


def test_problems_name_a_dimension_by_its_label_never_its_key():
    labelled = [dict(d, label=f"The {d['key'].title()} question") for d in DIMS]
    result = clean_answers(labelled, {"empathy": "", "clarity": "9", "overall": ""})
    assert result.problems == [
        "The Empathy question: move the slider to answer",
        "The Clarity question: '9' is not a whole number from 1 to 5",
        "The Overall question: choose an answer",
    ]
    assert not any(d["key"] in p.split(":")[0] for p in result.problems for d in DIMS)


def test_non_finite_and_boolean_numbers_are_refused():
    for bad in ("nan", "inf", True):
        assert not clean_answers(DIMS[:1], {"empathy": bad}).ok


# --------------------------------------------------------------------------- attention checks


def test_slider_bounds_are_inclusive_and_either_may_be_missing():
    assert attention_passed({"empathy": {"max": 30}}, {"empathy": 30})
    assert not attention_passed({"empathy": {"max": 30}}, {"empathy": 30.5})
    assert attention_passed({"empathy": {"min": 70}}, {"empathy": 100})
    assert not attention_passed({"empathy": {"min": 70}}, {"empathy": 69})
    assert attention_passed({"empathy": {"min": 20, "max": 40}}, {"empathy": 20})
    assert not attention_passed({"empathy": {"min": 20, "max": 40}}, {"empathy": 41})


def test_listed_answers_checkbox_likert_choice():
    assert attention_passed({"fluent": [False]}, {"fluent": False})
    assert not attention_passed({"fluent": [False]}, {"fluent": True})
    assert not attention_passed({"fluent": [True]}, {"fluent": 1})  # 1 is not a ticked box
    assert attention_passed({"clarity": [1, 2]}, {"clarity": 2})
    assert not attention_passed({"clarity": [1, 2]}, {"clarity": 3})
    assert attention_passed({"overall": ["a", "tie"]}, {"overall": "tie"})
    assert attention_passed({"overall": ["a"]}, {"overall": "A"})  # case does not matter
    assert not attention_passed({"overall": ["a"]}, {"overall": "b"})
    assert attention_passed({"fluent": False, "overall": "B"}, {"fluent": False, "overall": "b"})


def test_every_condition_must_hold_and_unanswered_fails():
    expect = {"empathy": {"max": 30}, "fluent": [False]}
    assert attention_passed(expect, {"empathy": 10, "fluent": False, "clarity": 5})
    assert not attention_passed(expect, {"empathy": 10, "fluent": True})
    assert not attention_passed(expect, {"empathy": 90, "fluent": False})
    assert not attention_passed(expect, {"fluent": False})
    assert not attention_passed({"empathy": {"max": 30}}, {"empathy": None})
    assert not attention_passed({"empathy": {"max": 30}}, {"empathy": True})
    assert attention_passed({}, {"empathy": 3})  # nothing to check


def test_swap_sides_turns_a_into_b_for_the_left_right_flip():
    expect = {"overall": ["a"], "respectful": ["a", "tie"], "coherent": ["tie"]}
    swapped = swap_sides(expect)
    assert swapped == {"overall": ["b"], "respectful": ["b", "tie"], "coherent": ["tie"]}
    assert swap_sides(swapped) == expect
    assert swap_sides({"empathy": {"max": 30}, "fluent": [True]}) == {
        "empathy": {"max": 30},
        "fluent": [True],
    }
    # a judge preferring response_a shown on the right (judgment "b") passes
    assert attention_passed(swapped, {"overall": "b", "respectful": "tie", "coherent": "tie"})
