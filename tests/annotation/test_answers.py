from annotation.answers import clean_answers

DIMS = [
    {"key": "empathy", "type": "slider", "required": True},
    {"key": "fluent", "type": "checkbox"},
    {"key": "clarity", "type": "likert", "points": 5},
    {"key": "overall", "type": "choice", "allow_tie": False, "rationale": "required"},
]


def test_valid_answers_are_cleaned():
    result = clean_answers(DIMS, {"empathy": "37", "fluent": "true", "clarity": "4", "overall": "B"},
                           {"overall": "clearer"})
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
    assert result.problems == ["empathy: no answer given (move the slider)"]


def test_non_finite_and_boolean_numbers_are_refused():
    for bad in ("nan", "inf", True):
        assert not clean_answers(DIMS[:1], {"empathy": bad}).ok
