"""The quality-control part of the study analysis: counts of annotators passing each rule,
and what leaving out those not approved changes (checked against pandas / scipy on the
frame without them), shown in report.md; the per-rule results are annotation.decisions'
own decide on each rule's evidence."""

from __future__ import annotations

import random

import pandas as pd
import pytest
from scipy import stats

from analysis.options import AnalysisOptions
from analysis.quality_control_report import rule_counts
from analysis.report import render_report
from analysis.study_analysis import analyze
from annotation.decisions import Evidence, Rules
from annotation.quality_control import rule_results

DIMS = [{"key": "q", "type": "slider", "label": "Quality"}]
OPTIONS = AnalysisOptions(n_bootstrap=50, n_permutations=50)


def _frame(seed: int = 0) -> pd.DataFrame:
    """Five annotators rate A (better) and B on 8 contexts; ``clicker`` answers at random."""
    rng = random.Random(seed)
    rows = []
    for annotator in ("a1", "a2", "a3", "a4", "clicker"):
        for c in range(8):
            for system, base in (("A", 70), ("B", 50)):
                value = rng.uniform(0, 100) if annotator == "clicker" else base + rng.gauss(0, 8)
                rows.append(
                    {
                        "annotator": annotator,
                        "context": f"c{c}",
                        "system": system,
                        "dimension": "q",
                        "value": value,
                    }
                )
    return pd.DataFrame(rows)


def _decisions() -> dict:
    ok = {"outcome": "approve", "rules": {"attention": True, "degraded": True, "gold": None}}
    return {
        "a1": ok,
        "a2": ok,
        "a3": ok,
        "a4": {"outcome": "review", "rules": {"attention": False, "degraded": True}},
        "clicker": {"outcome": "reject", "rules": {"attention": True, "degraded": False}},
        "never-judged": {"outcome": "reject", "rules": {"degraded": False}},
    }


def test_rule_counts_count_the_analysed_annotators_only():
    rows = {r["rule"]: r for r in rule_counts(_decisions(), ["a1", "a2", "a3", "a4", "clicker"])}
    assert set(rows) == {"attention", "degraded"}  # gold: nobody has evidence
    assert (rows["degraded"]["n_tested"], rows["degraded"]["n_passed"]) == (5, 4)
    assert (rows["attention"]["n_passed"], rows["attention"]["n_failed"]) == (4, 1)


def test_leaving_out_those_not_approved_matches_the_analysis_without_them():
    frame = _frame()
    result = analyze(
        frame, protocol="rating", dimensions=DIMS, options=OPTIONS, decisions=_decisions()
    )
    section = result.info["quality_control"]
    assert section["n_annotators"] == 5 and section["n_decided"] == 5
    assert section["outcomes"] == {"approve": 3, "review": 1, "reject": 1}
    assert section["not_approved"] == ["a4", "clicker"]
    kept = frame.loc[frame["annotator"].isin(["a1", "a2", "a3"])]
    items = kept.groupby(["system", "context"])["value"].mean()
    changed = {(r["system_a"], r["system_b"], r["quantity"]): r for r in section["changed"]}
    for system in ("A", "B"):
        row = changed[(system, "", "mean")]
        assert row["without_excluded"] == pytest.approx(items[system].mean())
        assert row["with_all"] == pytest.approx(
            frame.groupby(["system", "context"])["value"].mean()[system].mean()
        )
    # the paired t-test without them (independent: scipy on the item means)
    expected = stats.ttest_rel(items["A"], items["B"])
    assert changed[("A", "B", "p_value")]["without_excluded"] == pytest.approx(expected.pvalue)
    text = render_report(result)
    assert "## Quality control" in text
    assert "5 of 5 annotators analysed: 3 approved, 1 to review, 1 rejected" in text
    assert "| Degraded-control test | 5 | 4 | 1 |" in text
    assert "Leaving out the 2 annotators not approved (a4, clicker) changes" in text


def test_without_decisions_there_is_no_section_and_all_approved_changes_nothing():
    result = analyze(_frame(), protocol="rating", dimensions=DIMS, options=OPTIONS)
    assert "quality_control" not in result.info
    assert "## Quality control" not in render_report(result)
    everyone = {a: {"outcome": "approve", "rules": {}} for a in ("a1", "a2", "a3", "a4", "clicker")}
    result = analyze(
        _frame(), protocol="rating", dimensions=DIMS, options=OPTIONS, decisions=everyone
    )
    assert result.info["quality_control"]["changed"] == []
    assert "Every annotator was approved" in render_report(result)


def test_rule_results_apply_each_rule_on_its_own_evidence():
    rules = Rules(min_item_seconds=2.0)
    careful = Evidence(
        attention_total=2,
        degraded_pairs=tuple((80.0 + i, 10.0 + i) for i in range(8)),
        item_seconds=(1.0, 5.0, 6.0),
    )
    got = rule_results(careful, rules)
    assert got == {
        "attention": True,
        "degraded": True,
        "gold": None,
        "time": True,
        "qualification": None,
    }
    clicker = Evidence(
        attention_total=2,
        attention_failed=1,
        degraded_pairs=tuple((10.0 + i, 80.0 - i) for i in range(8)),
        gold_total=4,
        gold_correct=1,
        item_seconds=(1.0, 1.0, 6.0),
        qualification_passed=False,
    )
    assert rule_results(clicker, rules) == dict.fromkeys(
        ("attention", "degraded", "gold", "time", "qualification"), False
    )


@pytest.mark.django_db
def test_a_study_run_here_reads_its_decisions_under_the_frames_pseudonyms(tmp_path):
    from analysis.api import analyze_study
    from tests.annotation.test_gold_items import _answer_all, _build

    study = _build(tmp_path)
    _answer_all(study, gold_right=False)
    result = analyze_study(study.name, None).result
    section = result.info["quality_control"]
    assert section["n_annotators"] == section["n_decided"] == 1  # keyed like the frame
    assert section["outcomes"]["reject"] == 1 and section["all_left_out"]
    assert {r["rule"]: r["n_failed"] for r in section["rules"]} == {"gold": 1}
    assert "| Gold items | 1 | 0 | 1 |" in render_report(result)
