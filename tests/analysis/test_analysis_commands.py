"""`manage.py analyze` and `analysis.api.analyze_study` end to end: a study created from
examples/demo_rating.yaml (and the pairwise demo) with judgments recorded through
annotation.services.record_judgment, and an imported study."""

from __future__ import annotations

import csv
import io
import json
import random
from datetime import timedelta
from pathlib import Path

import pandas.testing
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone

from analysis.api import StudyNotFound, analyze_study
from analysis.models import ImportedStudy as ImportedStudyModel
from analysis.selectors import judgments_frame
from annotation.assignment import expire_stale_leases, request_work
from annotation.models import Judgment, Study
from annotation.services import get_or_create_participant, next_entry, record_judgment

pytestmark = pytest.mark.django_db
EXAMPLES = Path(settings.BASE_DIR) / "examples"
SHIFT = {"baseline": 15, "sft": 5, "human": 0}


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def judge(
    study,
    participants: int,
    *,
    seed: int = 0,
    stop_after: int | None = None,
    prefix: str = "P",
    fail_attention: frozenset[int] = frozenset(),
) -> int:
    """Participants take batches and judge every item (or only `stop_after` items).

    Attention checks (the demo rating study's expects emotion_understanding <= 30) are
    passed, except by the participants numbered in `fail_attention`."""
    rng = random.Random(seed)
    count = 0
    for i in range(participants):
        p = get_or_create_participant(study, f"{prefix}{i}", "prolific")
        assignment = request_work(p).assignment
        if assignment is None:
            break
        k = 0
        while (entry := next_entry(assignment)) is not None:
            if stop_after is not None and k >= stop_after:
                break
            values = {}
            for d in study.dimensions:
                if entry.item.is_attention_check and d["key"] == "emotion_understanding":
                    values[d["key"]] = 85 if i in fail_attention else rng.randint(0, 30)
                elif d["type"] == "slider":
                    base = 50 + SHIFT.get(entry.item.candidate.system.name, 0)
                    values[d["key"]] = max(0, min(100, base + rng.randint(-20, 20)))
                elif d["type"] == "checkbox":
                    values[d["key"]] = rng.random() < 0.7
                else:
                    values[d["key"]] = rng.choice(["a", "a", "b", "tie"])
            record_judgment(
                p,
                entry_id=entry.id,
                values=values,
                rationales={},
                idempotency_key=f"{prefix}{i}-{k}",
                time_on_item_ms=4000 + 100 * k,
            )
            k += 1
            count += 1
    return count


@pytest.fixture
def rating_study():
    run("create_study", str(EXAMPLES / "demo_rating.yaml"))
    study = Study.objects.get()
    judge(study, 12)  # 6 batches x 2 slots: every item judged twice
    return study


def test_judgments_frame_reads_the_canonical_columns(rating_study):
    frame = judgments_frame(rating_study)
    # 12 batches of 6 items and one attention check
    assert len(frame) == Judgment.objects.count() * 5 == (72 + 12) * 5
    assert list(frame.columns) == [
        "annotator",
        "context",
        "system",
        "dimension",
        "value",
        "position",
        "block",
        "batch",
        "time_on_item_ms",
        "response_length",
        "assignment_status",
        "attention_passed",
        "attention_check",
        "control",
    ]
    assert set(frame.control) == {"", "attention"}  # gold / degraded: none in this study
    checks = frame[frame.attention_passed.notna()]
    assert len(checks) == 12 * 5 and set(checks.attention_check) == {"dismissive-reply"}
    assert set(checks.system) == {"attention-check"} and set(checks.context) == {"dismissive-reply"}
    real = frame[frame.attention_passed.isna()]
    assert set(real.attention_check) == {""}
    frame = real
    assert set(frame.system) == {"baseline", "sft", "human"}
    assert set(frame[frame.dimension == "understandable_consistent"].value) <= {0.0, 1.0}
    assert frame.annotator.str.startswith("a-").all()
    j = Judgment.objects.select_related("item__candidate").order_by("id").first()
    assert frame.response_length.iloc[0] == len(j.item.candidate.text.split())
    assert frame.context.nunique() == 12 and set(frame.assignment_status) == {"completed"}


def _walk_judgments(study) -> pandas.DataFrame:
    """The frame by a direct walk of Judgment (what analysis once read on its own)."""
    from annotation.answers import attention_passed
    from annotation.export import pseudonym

    pairwise = study.protocol == "pairwise"
    rows = []
    for j in (
        Judgment.objects.filter(study=study)
        .order_by("id")
        .select_related(
            "participant",
            "assignment",
            "batch",
            "entry",
            "item__context",
            "item__candidate__system",
            "item__candidate_b__system",
        )
    ):
        check = j.item.attention_check_id
        base = {
            "annotator": pseudonym(
                j.participant.external_id, study.name, settings.EXPORT_PSEUDONYM_SALT
            ),
            "context": j.item.context.external_id,
            "position": j.position,
            "block": j.entry.block_index,
            "batch": j.batch.index,
            "time_on_item_ms": j.time_on_item_ms,
            "assignment_status": j.assignment.status,
            "attention_passed": attention_passed(j.item.attention_expect or {}, j.values)
            if check
            else None,
            "attention_check": check,
            "control": j.item.control_kind,
        }
        side_a = j.item.candidate
        if pairwise:
            side_b = j.item.candidate_b
            base.update(
                system_a=side_a.system.name,
                system_b=side_b.system.name,
                response_length_a=len(side_a.text.split()),
                response_length_b=len(side_b.text.split()),
            )
        else:
            base.update(system=side_a.system.name, response_length=len(side_a.text.split()))
        for d in study.dimensions:
            if d["key"] in j.values:
                value = j.values[d["key"]]
                answer = {"choice": str(value)} if pairwise else {"value": float(value)}
                rows.append(dict(base, dimension=d["key"], **answer))
    return pandas.DataFrame.from_records(rows)


def test_the_frame_is_made_from_the_export_rows(rating_study, tmp_path):
    run("create_study", str(EXAMPLES / "demo_pairwise.yaml"))
    pairwise = Study.objects.get(protocol="pairwise")
    judge(pairwise, 3, prefix="Q")
    for study in (rating_study, pairwise):
        frame = judgments_frame(study)
        expected = _walk_judgments(study)[list(frame.columns)]
        pandas.testing.assert_frame_equal(frame, expected, check_dtype=False)
        # the same rows, in the same order, as the export writes
        out = tmp_path / f"{study.name}.csv"
        run("export_judgments", study.name, "--out", str(out))
        exported = list(csv.DictReader(out.open()))
        assert len(exported) == len(frame)
        assert [r["annotator"] for r in exported] == list(frame.annotator)
        assert [r["dimension"] for r in exported] == list(frame.dimension)
        column = "system" if study.protocol == "rating" else "system_a"
        assert [r[column] for r in exported] == list(frame[column])


def test_analyze_command_writes_the_bundle(rating_study, tmp_path):
    out = tmp_path / "bundle"
    text = run(
        "analyze",
        rating_study.name,
        "--out",
        str(out),
        "--permutations",
        "2000",
        "--bootstrap",
        "500",
        "--seed",
        "3",
        "--alternative",
        "greater",
    )
    assert f"analysed study '{rating_study.name}' (rating; 72 judgments by 12 annotators" in text
    assert "systems baseline, sft, human" in text  # the spec's order
    assert "30 paired" in text  # 3 pairs x 5 dimensions x 2 variants, all contexts shared
    assert f"report: {out / 'report.md'}" in text
    for name in (
        "summary",
        "comparisons",
        "agreement",
        "length_bias",
        "position_effects",
        "annotator_quality",
        "exclusion_effect",
    ):
        assert (out / f"{name}.csv").stat().st_size > 0
        assert (out / "latex" / f"{name}.tex").read_text().count("\\toprule") == 1
        assert (out / "markdown" / f"{name}.md").exists()
        assert json.loads((out / "json" / f"{name}.json").read_text())["table"] == name
    assert not (out / "winrates.csv").exists()
    for stem in ("rating_distributions", "length_bias"):
        for ext in ("png", "svg"):
            assert (out / "plots" / f"{stem}.{ext}").stat().st_size > 0
    rows = list(csv.DictReader((out / "comparisons.csv").open()))
    first = rows[0]
    assert (first["dimension"], first["system_a"], first["system_b"]) == (
        "emotion_understanding",
        "baseline",
        "sft",
    )
    assert first["design"] == "paired" and first["alternative"] == "greater" and first["n"] == "12"
    report = (out / "report.md").read_text()
    assert "2000 resamples" in report and "500 resamples" in report and "seed 3" in report
    assert "one-sided (greater)" in report


def test_analyze_options_errors_and_api(rating_study, tmp_path):
    with pytest.raises(CommandError, match="no study named 'nope'"):
        run("analyze", "nope", "--out", str(tmp_path / "x"))
    with pytest.raises(CommandError, match=r"unknown system\(s\) gpt5; systems with judgments"):
        run("analyze", rating_study.name, "--out", str(tmp_path / "x"), "--systems", "sft,gpt5")
    with pytest.raises(CommandError, match=r"unknown dimension\(s\) tone"):
        run("analyze", rating_study.name, "--out", str(tmp_path / "x"), "--dimensions", "tone")
    with pytest.raises(StudyNotFound):
        analyze_study("nope", None)
    with pytest.raises(ValueError, match="unknown analysis option"):
        analyze_study(rating_study.name, None, permutations=10)
    done = analyze_study(
        rating_study,
        tmp_path / "api",
        systems="sft,human",
        dimensions=["emotion_understanding"],
        n_permutations=200,
        n_bootstrap=100,
        plots=False,
    )
    assert done.kind == "study" and done.result.systems == ["sft", "human"]
    assert list(done.result.summary.dimension.unique()) == ["emotion_understanding"]
    assert (tmp_path / "api" / "summary.csv").exists()
    assert not (tmp_path / "api" / "plots").exists()


def test_analyze_command_variant_options(rating_study, tmp_path):
    out = tmp_path / "variants"
    run(
        "analyze",
        rating_study.name,
        "--out",
        str(out),
        "--no-plots",
        "--permutations",
        "200",
        "--bootstrap",
        "50",
        "--zscore",
        "wmt",
        "--permutation-two-sided",
        "doubled",
    )
    methods = (out / "report.md").read_text()
    assert "zscore=wmt" in methods and "permutation_two_sided=doubled" in methods
    with pytest.raises(CommandError):
        run("analyze", rating_study.name, "--out", str(out), "--zscore", "sample")


def test_partial_batches_left_out_unless_included(rating_study, tmp_path):
    # a 13th participant has no batch left; free one by expiring a fresh lease instead
    run("create_study", str(EXAMPLES / "demo_pairwise.yaml"))
    pairwise = Study.objects.get(protocol="pairwise")
    judge(pairwise, 1, stop_after=2, prefix="Q")
    assert expire_stale_leases(pairwise, timezone.now() + timedelta(hours=3)) == 1
    judge(pairwise, 4, prefix="R")
    statuses = set(judgments_frame(pairwise).assignment_status)
    assert statuses == {"expired", "completed"}
    default = analyze_study(pairwise, None, n_permutations=100, n_bootstrap=100)
    included = analyze_study(
        pairwise, None, n_permutations=100, n_bootstrap=100, include_partial=True
    )
    assert default.result.info["n_rows_partial"] == 2 * 5
    assert included.result.info["n_rows_analysed"] == default.result.info["n_rows_analysed"] + 10
    w = default.result.winrates
    assert set(w.dimension) == {"prosocial", "engaged", "respectful", "coherent", "overall"}
    assert (w.wins_a + w.ties + w.wins_b == w.n).all()
    out = tmp_path / "pairwise"
    text = run(
        "analyze",
        pairwise.name,
        "--out",
        str(out),
        "--permutations",
        "500",
        "--bootstrap",
        "200",
        "--include-partial",
    )
    assert "analysed study 'demo-prosocial-pairwise' (pairwise" in text
    assert (out / "winrates.csv").exists() and (out / "plots" / "winrates.svg").exists()
    assert not (out / "comparisons.csv").exists() and not (out / "bradley_terry.csv").exists()


def test_exclusion_through_the_command(rating_study, tmp_path):
    frame = judgments_frame(rating_study)
    someone = sorted(frame.annotator.unique())[0]
    out = tmp_path / "excl"
    text = run(
        "analyze",
        rating_study.name,
        "--out",
        str(out),
        "--exclude-annotators",
        someone,
        "--permutations",
        "200",
        "--bootstrap",
        "100",
        "--no-plots",
    )
    assert f"excluded annotators: {someone}" in text
    rows = list(csv.DictReader((out / "exclusion_effect.csv").open()))
    assert rows and {r["n_annotators_excluded"] for r in rows} == {"1"}
    quality = {r["annotator"]: r for r in csv.DictReader((out / "annotator_quality.csv").open())}
    assert quality[someone]["excluded"] == "true"


def test_attention_checks_flag_an_annotator_and_stay_out_of_the_statistics(tmp_path):
    run("create_study", str(EXAMPLES / "demo_rating.yaml"))
    study = Study.objects.get()
    judge(study, 12, fail_attention=frozenset({3}))
    frame = judgments_frame(study)
    checks = frame[frame.attention_passed.notna()].drop_duplicates(["annotator", "batch"])
    assert len(checks) == 12 and checks.attention_passed.sum() == 11
    failing = checks.loc[~checks.attention_passed.astype(bool), "annotator"].item()

    out = tmp_path / "flagged"
    text = run(
        "analyze",
        study.name,
        "--out",
        str(out),
        "--permutations",
        "200",
        "--bootstrap",
        "100",
        "--no-plots",
    )
    # the 12 attention judgments are not among the judgments analysed
    assert f"analysed study '{study.name}' (rating; 72 judgments by 12 annotators" in text
    quality = {r["annotator"]: r for r in csv.DictReader((out / "annotator_quality.csv").open())}
    assert (
        quality[failing]["flag_attention"] == "true" and quality[failing]["reasons"] == "attention"
    )
    assert quality[failing]["attention_pass_rate"] == "0" and quality[failing]["n_attention"] == "1"
    others = [r for a, r in quality.items() if a != failing]
    assert {(r["attention_pass_rate"], r["flagged"]) for r in others} == {("1", "false")}
    # every quality indicator counts the attention judgment too: 7 judgments per batch
    assert {r["n_judgments"] for r in quality.values()} == {"7"}
    summary = list(csv.DictReader((out / "summary.csv").open()))
    assert {r["system"] for r in summary} == {"baseline", "sft", "human"}
    assert {r["n_judgments"] for r in summary} == {"24"}  # 12 contexts x overlap 2 per system
    effect = list(csv.DictReader((out / "exclusion_effect.csv").open()))
    assert effect and {r["n_annotators_excluded"] for r in effect} == {"1"}
    assert (
        "Attention checks: 12 judgments of attention-check items" in (out / "report.md").read_text()
    )

    excluded = tmp_path / "excluded"
    text = run(
        "analyze",
        study.name,
        "--out",
        str(excluded),
        "--permutations",
        "200",
        "--bootstrap",
        "100",
        "--no-plots",
        "--exclude-flagged",
    )
    assert "66 judgments by 11 annotators" in text
    quality = {
        r["annotator"]: r for r in csv.DictReader((excluded / "annotator_quality.csv").open())
    }
    assert quality[failing]["excluded"] == "true"
    assert sum(r["excluded"] == "true" for r in quality.values()) == 1


def test_imported_study_end_to_end(tmp_path):
    rng = random.Random(1)
    path = tmp_path / "ext.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["annotator", "item", "system", "dimension", "value"])
        for a in range(3):
            for c in range(10):
                for s, shift in (("m1", 10), ("m2", 0), ("m3", 5)):
                    writer.writerow([f"w{a}", f"d{c}", s, "quality", rng.randint(1, 5)])
                    writer.writerow([f"w{a}", f"d{c}", s, "score", 40 + shift + rng.randint(0, 30)])
    run("import_judgments", str(path), "--study", "ext", "--protocol", "rating")
    out = tmp_path / "ext-bundle"
    text = run(
        "analyze",
        "ext",
        "--out",
        str(out),
        "--permutations",
        "1000",
        "--bootstrap",
        "200",
        "--no-plots",
    )
    assert "analysed imported study 'ext' (rating; 90 judgments by 3 annotators" in text
    rows = list(csv.DictReader((out / "comparisons.csv").open()))
    assert len(rows) == 3 * 2 * 2 and {r["design"] for r in rows} == {"paired"}
    agreement = {
        (r["dimension"], r["metric"]): r for r in csv.DictReader((out / "agreement.csv").open())
    }
    assert agreement[("quality", "krippendorff_alpha")]["level"] == "ordinal"
    assert agreement[("score", "krippendorff_alpha")]["level"] == "interval"
    assert ("quality", "fleiss_kappa") in agreement and ("quality", "ICC(2,1)") in agreement


def test_imported_studies_in_the_admin(admin_client, tmp_path):
    path = tmp_path / "ext.csv"
    path.write_text("annotator,item,system,dimension,value\nw1,d1,m1,score,3\nw2,d1,m1,score,4\n")
    run("import_judgments", str(path), "--study", "ext-admin")
    study = ImportedStudyModel.objects.get(name="ext-admin")
    for url in (
        reverse("admin:analysis_importedstudy_changelist"),
        reverse("admin:analysis_importedstudy_change", args=[study.pk]),
        reverse("admin:analysis_importedjudgment_changelist"),
        reverse("admin:analysis_importedjudgment_change", args=[study.judgments.first().pk]),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    assert (
        "ext-admin"
        in admin_client.get(reverse("admin:analysis_importedstudy_changelist")).content.decode()
    )


@pytest.mark.parametrize("spec_name", ["demo_rating.yaml", "demo_pairwise.yaml"])
def test_an_evalsite_export_reimports_to_the_same_analysis(spec_name, tmp_path):
    run("create_study", str(EXAMPLES / spec_name))
    study = Study.objects.get()
    judge(study, 12, seed=3)
    exported = tmp_path / "export.csv"
    run("export_judgments", study.name, "--out", str(exported))
    out = run(
        "import_judgments", str(exported), "--study", "reimported", "--protocol", study.protocol
    )
    assert "read as an evalsite export" in out
    attention = Judgment.objects.filter(study=study, item__attention_check_id__gt="").count()
    if attention:
        assert f"skipped {attention * len(study.dimensions)} attention-check rows" in out
    original = analyze_study(study, None, n_permutations=100, n_bootstrap=100).result
    again = analyze_study("reimported", None, n_permutations=100, n_bootstrap=100).result
    table = "summary" if study.protocol == "rating" else "winrates"
    columns = (
        ["dimension", "system", "n_items", "mean", "sd"]
        if table == "summary"
        else ["dimension", "wins_a", "ties", "wins_b"]
    )
    left = getattr(original, table)[columns].sort_values(columns[:2]).reset_index(drop=True)
    right = getattr(again, table)[columns].sort_values(columns[:2]).reset_index(drop=True)
    assert len(left) > 0
    pandas.testing.assert_frame_equal(left, right, check_dtype=False)


def test_exclude_flagged_when_every_annotator_is_flagged_fails_and_writes_nothing(tmp_path):
    path = tmp_path / "lazy.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["annotator", "item", "system", "dimension", "value"])
        for a in ("w1", "w2"):
            for c in range(8):
                for s in ("m1", "m2"):
                    writer.writerow([a, f"d{c}", s, "score", 50])  # always the same answer
    run("import_judgments", str(path), "--study", "lazy", "--protocol", "rating")
    out = tmp_path / "lazy-bundle"
    text = run(
        "analyze",
        "lazy",
        "--out",
        str(out),
        "--permutations",
        "100",
        "--bootstrap",
        "50",
        "--no-plots",
    )
    assert "(rating; 32 judgments by 2 annotators" in text
    assert "flagged annotators: w1, w2" in text
    with pytest.raises(CommandError) as error:
        run(
            "analyze",
            "lazy",
            "--out",
            str(out / "excluded"),
            "--permutations",
            "100",
            "--bootstrap",
            "50",
            "--no-plots",
            "--exclude-flagged",
        )
    message = str(error.value)
    assert "nothing left to analyse: all 2 annotators are excluded" in message
    assert (
        "w1 (straight-lining (index 1.00 > 0.8); no rating variation (SD 0.00 <= 0.0))" in message
    )
    assert "w2 (" in message and "--exclude-flagged" in message
    assert not (out / "excluded").exists()
