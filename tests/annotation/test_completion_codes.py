"""The spec's completion codes per outcome, decision rules and annotator-safety section:
located errors, the normalised form, and what the shell reads from it."""

from __future__ import annotations

import json

import pytest

from annotation.completion import completion_of_spec
from annotation.decisions import Rules
from annotation.quality_control import rules_for
from annotation.spec import load_spec, validate_spec
from tests.annotation.test_spec import rating_spec


def _problems(spec: dict) -> list[str]:
    return [str(p) for p in validate_spec(spec, base_dir=None)]


def _with(**parts) -> dict:
    spec = rating_spec()
    for key, value in parts.items():
        spec[key] = value
    return spec


CODES = {
    "completed": {"code": "PASS-1", "redirect_url": "https://app.prolific.com/done?cc=PASS-1"},
    "failed_checks": {"code": "FAIL-2"},
    "screened_out": {"code": "SCREEN-3"},
    "no_work": {"redirect_url": "https://app.prolific.com/done?cc=NOWORK"},
}


def test_codes_per_outcome_round_trip_and_are_read_per_outcome():
    spec = _with(completion={"codes": CODES})
    assert _problems(spec) == []
    stored = load_spec(spec, base_dir=None).to_dict()
    assert stored["completion"]["codes"]["failed_checks"] == {
        "code": "FAIL-2",
        "redirect_url": None,
    }
    # the normalised form loads again to itself
    again = load_spec(json.loads(json.dumps(stored)), base_dir=None).to_dict()
    assert again == stored
    assert completion_of_spec(stored, "completed") == (
        "PASS-1",
        "https://app.prolific.com/done?cc=PASS-1",
    )
    assert completion_of_spec(stored, "screened_out") == ("SCREEN-3", None)
    assert completion_of_spec(stored, "no_work") == (
        None,
        "https://app.prolific.com/done?cc=NOWORK",
    )


def test_a_spec_without_codes_keeps_its_single_code_and_hash_shape():
    stored = load_spec(_with(completion={"code": "DONE", "no_work_code": "NONE"}), base_dir=None)
    d = stored.to_dict()
    assert "codes" not in d["completion"]
    assert completion_of_spec(d, "completed") == ("DONE", None)
    assert completion_of_spec(d, "failed_checks") == ("DONE", None)
    assert completion_of_spec(d, "no_work") == ("NONE", None)
    assert completion_of_spec(d, "screened_out") == (None, None)
    with pytest.raises(ValueError, match="unknown completion outcome"):
        completion_of_spec(d, "paid")


@pytest.mark.parametrize(
    ("completion", "expected"),
    [
        (
            {"codes": {"completed": {"code": "A"}, "failed_checks": {"code": "A"}}},
            "completion.codes.failed_checks.code: is the code of completed too",
        ),
        (
            {"code": "X", "codes": {"screened_out": {}}},
            "completion.codes.screened_out: give a code",
        ),
        (
            {"codes": {"no_work": {"code": "N"}}},
            "completion: give a completion code, a redirect_url, or both (or codes.completed)",
        ),
        ({"code": "X", "codes": {"paid": {"code": "P"}}}, "completion.codes.paid"),
        (
            {"code": "X", "codes": {"completed": {"redirect_url": "ftp://x.org"}}},
            "completion.codes.completed.redirect_url",
        ),
    ],
)
def test_code_problems_are_located(completion, expected):
    found = _problems(_with(completion=completion))
    assert any(expected in p for p in found), found


def test_decision_rules_from_the_spec_with_zero_as_off():
    spec = _with(
        quality_control={
            "decision": {
                "attention_reject_at": 0,
                "attention_review_at": 3,
                "gold_threshold": 0.9,
                "qualification_failed": "reject",
                "dimension": "overall",
            },
            "degraded": {"test": "signed_rank", "scores": "raw", "alpha": 0.01},
            "min_time": {"per_item_seconds": 2},
        }
    )
    assert _problems(spec) == []
    rules = rules_for(load_spec(spec, base_dir=None).to_dict())
    assert rules == Rules(
        attention_reject_at=None,
        attention_review_at=3,
        gold_threshold=0.9,
        qualification_failed="reject",
        degraded_test="signed_rank",
        degraded_scores="raw",
        alpha=0.01,
        min_item_seconds=2,
    )
    assert rules_for(rating_spec()) == Rules()  # nothing given: the defaults


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        ({"dimension": "fluent"}, "quality_control.decision.dimension: 'fluent' is a checkbox"),
        ({"dimension": "nope"}, "quality_control.decision.dimension: no dimension has the key"),
        ({"gold_threshold": 1.5}, "quality_control.decision.gold_threshold"),
        ({"qualification_failed": "ban"}, "quality_control.decision.qualification_failed"),
        ({"attention_reject_at": -1}, "quality_control.decision.attention_reject_at"),
    ],
)
def test_decision_problems_are_located(decision, expected):
    found = _problems(_with(quality_control={"decision": decision}))
    assert any(expected in p for p in found), found


def test_annotator_safety_section():
    spec = _with(annotator_safety={"break_reminder_minutes": 20, "daily_item_cap": 60})
    assert _problems(spec) == []
    assert load_spec(spec, base_dir=None).to_dict()["annotator_safety"] == {
        "skip_distressing": True,
        "break_reminder_minutes": 20,
        "daily_item_cap": 60,
    }
    assert "annotator_safety" not in load_spec(rating_spec(), base_dir=None).to_dict()
    for bad, where in (
        ({"daily_item_cap": 0}, "annotator_safety.daily_item_cap"),
        ({"break_reminder_minutes": "20"}, "annotator_safety.break_reminder_minutes"),
        ({"skip_distressing": "yes"}, "annotator_safety.skip_distressing"),
        ({"pause": True}, "annotator_safety.pause"),
    ):
        found = _problems(_with(annotator_safety=bad))
        assert any(where in p for p in found), (bad, found)
