"""What the researcher reads: report.md and the Markdown / LaTeX tables of a bundle.

Dimension labels instead of keys, Yes / No instead of True / False, no ICC rows for a
checkbox, every missing value in an agreement table explained, counts with the right noun,
no empty exclusion table, a pairwise summary that is not called "Ratings", and the number
formatting rules of analysis/formatting.py.
"""

from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import formatting as fmt
from analysis import readable_tables as rt
from analysis import stats as st
from analysis import tables as tbl
from analysis.bundle import write_bundle
from analysis.study_analysis import AnalysisOptions, analyze
from analysis.table_context import TableContext
from tests.analysis.golden_bundles import (
    CASES,
    PAIR_DIMS,
    RATING_DIMS,
    pairwise_study,
    rating_study,
)

FAST = AnalysisOptions(n_permutations=50, n_bootstrap=50, seed=1)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    out = {}
    for name in ("rating", "pairwise"):
        root = tmp_path_factory.mktemp(name)
        write_bundle(CASES[name](), root, plots=False, title=name)
        out[name] = root
    return out


def _readable_files(root):
    files = [root / "report.md"]
    files += sorted((root / "markdown").glob("*.md")) + sorted((root / "latex").glob("*.tex"))
    return files


def _table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


# ---------------------------------------------------------------------- formatting rules


def test_noise_is_zero_and_machine_files_carry_six_significant_digits():
    assert fmt.machine_text(-1.14919e-17) == "0" and fmt.machine_value(-1.14919e-17) == 0.0
    assert fmt.machine_text(-0.0) == "0" and fmt.fixed(-0.0, 2) == "0.00"
    assert fmt.fixed(-0.001, 2) == "0.00"  # never "-0.00"
    assert fmt.machine_text(2 / 3) == "0.666667" and fmt.machine_text(58.833333333) == "58.8333"
    assert fmt.machine_text(123456789.0) == "1.23457e+08"
    assert fmt.machine_text(math.nan) == "" and fmt.machine_value(math.nan) is None
    assert fmt.machine_text(math.inf) == "inf" and fmt.machine_text(True) == "true"
    assert fmt.machine_text(5) == "5" and fmt.machine_text(np.int64(7)) == "7"


def test_readable_numbers_round_half_up_whatever_the_last_bits():
    # the same number computed on two machines, a few ulps apart, prints the same
    for noisy in (0.125, 0.12499999999999997, 0.12500000000000003):
        assert fmt.fixed(noisy, 2) == "0.13"
    assert fmt.percent(0.1875) == "18.8" and fmt.percent(0.3125) == "31.3"
    assert fmt.p_value(0.0004) == "<0.001" and fmt.p_value(0.3125) == "0.313"
    assert fmt.p_value(1.0000000000000002) == "1.000"
    assert fmt.df_text(5.0) == "5" and fmt.df_text(9.8765) == "9.9"
    assert fmt.fixed(math.nan) is None and fmt.fixed(math.inf) == "inf"


def test_words():
    assert fmt.plural(1, "annotator") == "1 annotator"
    assert fmt.plural(0, "annotator") == "0 annotators"
    assert fmt.plural(2, "judgment × dimension row") == "2 judgment × dimension rows"
    assert fmt.yes_no(True) == "Yes" and fmt.yes_no(np.bool_(False)) == "No"
    assert fmt.yes_no("false") == "No" and fmt.yes_no(None) is None
    assert (
        fmt.dimension_label({"key": "emotion_understanding", "label": "Emotion understanding"})
        == "Emotion understanding"
    )
    assert fmt.dimension_label({"key": "fluency"}) == "fluency"
    assert fmt.dimension_label({"key": "fluency", "label": ""}) == "fluency"


# --------------------------------------------------------------------- labels, Yes / No


def test_readable_tables_show_dimension_labels_and_fall_back_to_the_key(bundles):
    root = bundles["rating"]
    labelled = {d["key"]: d["label"] for d in RATING_DIMS if "label" in d}
    for path in [root / "report.md", *sorted((root / "markdown").glob("*.md"))]:
        text = path.read_text()
        for line in _table_lines(text)[2:]:
            first = line.split(" | ")[0].removeprefix("| ")
            assert first not in labelled, f"{path.name}: key {first!r} instead of its label"
    summary = _table_lines((root / "markdown" / "summary.md").read_text())
    dims = {line.split(" | ")[0].removeprefix("| ") for line in summary[2:]}
    assert dims == {"Emotion understanding", "fluency", "Understandable & consistent"}
    tex = (root / "latex" / "agreement.tex").read_text()
    assert "Emotion understanding & Krippendorff's $\\alpha$" in tex
    assert "Understandable \\& consistent & Fleiss' $\\kappa$" in tex
    report = (root / "report.md").read_text()
    assert "Emotion understanding (`empathy`; slider, interval)" in report
    assert "fluency (likert, ordinal)" in report  # no label: the key, shown once


def test_machine_readable_files_keep_the_key_and_carry_the_label(bundles):
    root = bundles["rating"]
    rows = list(csv.DictReader((root / "summary.csv").open()))
    assert list(rows[0])[0] == "dimension" and list(rows[0])[-1] == "dimension_label"
    pairs = {(r["dimension"], r["dimension_label"]) for r in rows}
    assert pairs == {
        ("empathy", "Emotion understanding"),
        ("fluency", "fluency"),
        ("consistent", "Understandable & consistent"),
    }
    payload = json.loads((root / "json" / "agreement.json").read_text())
    assert payload["columns"][-1] == "dimension_label"
    assert {r["dimension_label"] for r in payload["rows"] if r["dimension"] == "empathy"} == {
        "Emotion understanding"
    }
    # annotator quality has no dimension column, so no label column either
    assert "dimension_label" not in (root / "annotator_quality.csv").read_text().splitlines()[0]


def test_no_python_booleans_or_none_in_readable_output(bundles):
    for root in bundles.values():
        for path in _readable_files(root):
            text = path.read_text()
            for word in ("True", "False", "None", "nan", "NaN"):
                assert not re.search(rf"\b{word}\b", text), f"{path.name} shows {word}"
    quality = _table_lines((bundles["rating"] / "markdown" / "annotator_quality.md").read_text())
    header = [c.strip() for c in quality[0].strip("|").split("|")]
    rows = {
        r.split(" | ")[0].removeprefix("| "): [c.strip() for c in r.strip("|").split("|")]
        for r in quality[2:]
    }
    flagged, excluded = header.index("Flagged"), header.index("Excluded")
    assert rows["fast"][flagged] == "Yes" and rows["anna"][flagged] == "No"
    assert {r[excluded] for r in rows.values()} == {"No"}
    assert "too fast" in rows["fast"][header.index("Reasons")]


def test_readable_output_names_papers_not_internal_words(bundles):
    for root in bundles.values():
        for path in _readable_files(root):
            text = path.read_text().lower()
            for phrase in ("seed paper", "the seeds", "issue #", "session"):
                assert phrase not in text, f"{path.name} says {phrase!r}"


def test_checkbox_answers_read_yes_no(bundles):
    agreement = (bundles["rating"] / "markdown" / "agreement.md").read_text()
    assert "categories No, Yes" in agreement and "categories 0, 1" not in agreement
    summary = (bundles["rating"] / "markdown" / "summary.md").read_text()
    assert "share of Yes answers" in summary
    report = (bundles["rating"] / "report.md").read_text()
    assert "checkbox: Yes / No" in report


# ------------------------------------------------------------------ agreement and gaps


def test_checkbox_dimension_has_no_icc_rows(bundles):
    result = CASES["rating"]()
    ag = result.agreement
    box = ag.loc[ag.dimension == "consistent"]
    assert list(box.metric) == ["krippendorff_alpha", "fleiss_kappa", "free_marginal_kappa"]
    assert set(box.level) == {"nominal"}
    assert ag.loc[ag.dimension == "empathy", "metric"].str.startswith("ICC").sum() == 2
    rows = list(csv.DictReader((bundles["rating"] / "agreement.csv").open()))
    assert not [r for r in rows if r["dimension"] == "consistent" and r["metric"].startswith("ICC")]
    md = (bundles["rating"] / "markdown" / "agreement.md").read_text()
    assert not [line for line in _table_lines(md) if "consistent" in line and "ICC" in line]


def _gappy_result():
    """Agreement with every kind of gap: items rated once (alpha, ICC, kappa undefined), a
    dimension everyone answers the same (alpha and kappa undefined)."""
    rows = []
    for a, ann in enumerate(("x", "y")):
        for c in range(4):
            for dim, value in (("score", 10.0 * c + a), ("same", 1.0)):
                # score: every item rated by one annotator only; same: both, identical
                ctx = f"c{c}" if dim == "same" else f"c{c}-{ann}"
                rows.append(
                    {
                        "annotator": ann,
                        "context": ctx,
                        "system": "s1",
                        "dimension": dim,
                        "value": value,
                    }
                )
    dims = [
        {"key": "score", "type": "slider", "label": "Score"},
        {"key": "same", "type": "checkbox", "label": "Always ticked"},
    ]
    return analyze(pd.DataFrame(rows), protocol="rating", dimensions=dims, options=FAST)


def test_every_missing_agreement_value_says_why(tmp_path):
    result = _gappy_result()
    assert result.agreement["value"].isna().sum() >= 4
    for _, row in result.agreement.iterrows():
        if math.isnan(row["value"]):
            assert row["note"], f"{row['dimension']} {row['metric']}: NaN without a reason"
    write_bundle(result, tmp_path, plots=False)
    for path in (tmp_path / "markdown" / "agreement.md", tmp_path / "report.md"):
        text = path.read_text()
        section = (
            text.split("### Inter-annotator agreement")[1].split("\n### ")[0].split("\n## ")[0]
        )
        lines = _table_lines(section)[2:]
        assert lines
        notes = dict(re.findall(r"^- (\S) (.+)$", section, flags=re.M))
        cells = [c.strip() for line in lines for c in line.strip("|").split(" | ")]
        dashes = [c for c in cells if c.startswith("–")]
        assert dashes, "expected gaps in this agreement table"
        for cell in dashes:
            assert len(cell) == 2 and cell[1] in notes, f"{path.name}: {cell!r} says nothing"
        reasons = " ".join(notes.values())
        assert "at least 2 ratings" in reasons and "every rating is" in reasons
    tex = (tmp_path / "latex" / "agreement.tex").read_text()
    body = tex.split("\\midrule")[1].split("\\bottomrule")[0]
    assert "--" in body and not re.search(r"--(?!\\textsuperscript\{[a-z]\})", body)
    for marker in set(re.findall(r"--\\textsuperscript\{([a-z])\}", body)):
        assert f"\\textsuperscript{{{marker}}}\\," in tex.split("\\end{tabular}")[1]


# ------------------------------------------------------------------------- the report


def test_report_counts_with_the_right_noun(tmp_path):
    rows = [
        {
            "annotator": "solo",
            "context": f"c{c}",
            "system": s,
            "dimension": "score",
            "value": float(10 * c + (5 if s == "b" else 0)),
            "time_on_item_ms": 9000,
        }
        for c in range(6)
        for s in ("a", "b")
    ]
    result = analyze(
        pd.DataFrame(rows),
        protocol="rating",
        dimensions=[{"key": "score", "type": "slider"}],
        options=FAST,
    )
    write_bundle(result, tmp_path, plots=False)
    report = (tmp_path / "report.md").read_text()
    assert "- 1 annotator on 6 contexts." in report
    assert "by 1 annotator on 6 contexts" in report
    assert not re.search(r"\b1 (annotators|judgments|contexts|rows|items|systems)\b", report)
    assert not re.search(r"\(s\)", report)


def test_report_has_no_exclusion_table_when_nobody_is_flagged_or_excluded(bundles):
    report = (bundles["pairwise"] / "report.md").read_text()
    section = report.split("### What excluding annotators changes")[1].split("\n## ")[0]
    assert "no annotator was flagged or excluded" in section.lower()
    assert "|" not in section and "(no rows)" not in report
    # when someone is excluded the table is there, with "Without excluded"
    options = AnalysisOptions(
        seed=11, exclude_annotators=("bo",), n_permutations=50, n_bootstrap=50
    )
    from tests.analysis.golden_bundles import rating_study

    result = analyze(rating_study(), protocol="rating", dimensions=RATING_DIMS, options=options)
    text = tbl.to_markdown(
        "exclusion_effect", result.exclusion_effect, context=tbl.TableContext.from_result(result)
    )
    assert "### What excluding annotators changes" in text and "| Without excluded |" in text


def test_pairwise_report_speaks_of_win_tie_loss_not_ratings(bundles):
    report = (bundles["pairwise"] / "report.md").read_text()
    assert "Ratings per system" not in report
    assert "### Expected score per system and dimension (win 1, tie 0.5, loss 0)" in report
    summary = _table_lines((bundles["pairwise"] / "markdown" / "summary.md").read_text())
    assert "Expected score" in summary[0] and "Mean z" not in summary[0]
    tex = (bundles["pairwise"] / "latex" / "summary.tex").read_text()
    assert "Ratings" not in tex and "Expected score" in tex
    labels = {d["label"] for d in PAIR_DIMS}
    assert {line.split(" | ")[0].removeprefix("| ") for line in summary[2:]} == labels


def test_exclude_flagged_when_everyone_is_flagged_is_an_error_naming_who_and_why():
    rows = [
        {
            "annotator": ann,
            "context": f"c{c}",
            "system": s,
            "dimension": "score",
            "value": 50.0,
            "time_on_item_ms": 1000,
        }
        for ann in ("ann", "bob")
        for c in range(6)
        for s in ("a", "b")
    ]
    frame = pd.DataFrame(rows)
    dims = [{"key": "score", "type": "slider"}]
    kept = analyze(frame, protocol="rating", dimensions=dims, options=FAST)
    assert kept.info["flagged_annotators"] == ["ann", "bob"]
    with pytest.raises(ValueError) as error:
        analyze(
            frame,
            protocol="rating",
            dimensions=dims,
            options=AnalysisOptions(n_permutations=50, n_bootstrap=50, exclude_flagged=True),
        )
    message = str(error.value)
    assert "nothing left to analyse" in message and "all 2 annotators are excluded" in message
    assert "ann (too fast (median 1.0 s per item < 3.0 s)" in message and "bob (" in message
    assert "straight-lining" in message and "--exclude-flagged" in message
    with pytest.raises(ValueError, match="excluded by name"):
        analyze(
            frame,
            protocol="rating",
            dimensions=dims,
            options=AnalysisOptions(n_permutations=50, exclude_annotators=("ann", "bob")),
        )


def test_bundle_csv_text_cells_are_formula_escaped_and_numbers_stay_numbers():
    """Annotator ids and names may come from an imported file: a spreadsheet must not run
    them (the same rule as the judgments export, core.csv_cells)."""
    import pandas as pd

    from analysis import tables

    frame = pd.DataFrame(
        {"annotator": ["=HYPERLINK('http://x')", "@SUM(A1)", "a-1"], "mean": [-0.5, 1.0, 2.0]}
    )
    lines = tables.to_csv(frame).splitlines()
    assert lines[1] == "'=HYPERLINK('http://x'),-0.5"
    assert lines[2] == "'@SUM(A1),1" and lines[3] == "a-1,2"


# ------------------------- headers follow the options; d_av and d_rm (Lakens 2013)


def _fast(confidence: float) -> AnalysisOptions:
    return AnalysisOptions(n_permutations=50, n_bootstrap=50, seed=3, confidence=confidence)


@pytest.fixture(scope="module")
def rating_90():
    return analyze(rating_study(), protocol="rating", dimensions=RATING_DIMS, options=_fast(0.9))


def _headers(result, name):
    frame = result.tables()[name]
    return rt.readable(name, frame, TableContext.from_result(result)).headers


@pytest.mark.parametrize(
    ("level", "text"), [(0.95, "95%"), (0.9, "90%"), (0.995, "99.5%"), (0.8, "80%")]
)
def test_confidence_level_reads_as_a_paper_writes_it(level, text):
    assert fmt.confidence_level(level) == text


def test_rating_headers_follow_the_confidence_option(rating_90):
    for name in ("summary", "comparisons", "agreement"):
        heads = _headers(rating_90, name)
        assert not [h for h in heads if "95%" in h], (name, heads)
        assert [h for h in heads if h.startswith("90% CI")], (name, heads)


def test_bradley_terry_header_follows_the_confidence_option():
    res = analyze(pairwise_study(), protocol="pairwise", dimensions=PAIR_DIMS, options=_fast(0.8))
    heads = _headers(res, "bradley_terry")
    assert "80% CI" in heads and not [h for h in heads if "95%" in h]


def test_the_icc_interval_is_computed_at_the_level_the_header_says(rating_90):
    agr = rating_90.tables()["agreement"]
    row = agr.loc[(agr["metric"] == "ICC(2,1)") & (agr["dimension"] == "empathy")].iloc[0]
    frame = rating_study()
    sub = frame.loc[frame["dimension"] == "empathy"].copy()
    sub["unit"] = sub["system"] + "/" + sub["context"]
    mat = st.ratings_matrix_from_long(sub, "unit", "annotator", "value").to_numpy()
    want90 = st.icc_all(mat, confidence=0.9)["ICC(2,1)"]
    want95 = st.icc_all(mat, confidence=0.95)["ICC(2,1)"]
    assert math.isclose(row["ci_low"], want90.ci_low, rel_tol=1e-9)
    assert math.isclose(row["ci_high"], want90.ci_high, rel_tol=1e-9)
    assert want95.ci_low < want90.ci_low  # the two levels differ, so the test can fail


def test_comparisons_show_d_av_and_d_rm_beside_d_z(rating_90):
    frame = rating_90.tables()["comparisons"]
    table = rt.readable("comparisons", frame, TableContext.from_result(rating_90))
    heads = table.headers
    assert heads.index("d_z") < heads.index("d_av") < heads.index("d_rm") < heads.index("g")
    i_av, i_rm = heads.index("d_av"), heads.index("d_rm")
    for (_, r), cells in zip(frame.iterrows(), table.rows, strict=True):
        if r["design"] == "paired" and np.isfinite(r["cohens_d_av"]):
            assert cells[i_av].text == fmt.fixed(r["cohens_d_av"], 2)
            assert cells[i_rm].text == fmt.fixed(r["cohens_d_rm"], 2)
        else:
            assert cells[i_av].missing and cells[i_av].marker
    reasons = dict(table.notes)
    assert all("d_z" not in why or "d_av" in why for why in reasons.values())


# ------------------------------------------------------------- the methods text template


def test_methods_template_fills_every_value_or_fails_loudly():
    from analysis import methods

    blocks = methods._templates()
    assert "rating.agreement" in blocks and "pairwise.bradley_terry" in blocks
    with pytest.raises(KeyError):
        methods._say("rating.summary")  # no $conf given: an error, never a gap
    text = methods._say("rating.summary", conf="90%")
    assert "t-based 90% confidence" in text and "$" not in text and "  " not in text


def test_methods_text_names_a_non_integer_confidence_level(rating_90):
    res = analyze(rating_study(), protocol="rating", dimensions=RATING_DIMS, options=_fast(0.995))
    joined = " ".join(res.methods)
    assert "99.5% percentile bootstrap" in joined and "100%" not in joined
    assert "$" not in joined
    assert "90% F-based intervals" in " ".join(rating_90.methods)


# ------------------------------------------- intervals beyond the scale; exact fits


def _tiny_study() -> pd.DataFrame:
    # 2 contexts: item means 0 and 100 (slider), 0 and 1 (checkbox): t-intervals on n = 2
    rows = []
    for ann in ("a1", "a2"):
        for c in range(2):
            for system in ("A", "B"):
                for key, v in (("s", 100.0 * c), ("box", float(c))):
                    rows.append(
                        {
                            "annotator": ann,
                            "context": f"c{c}",
                            "system": system,
                            "dimension": key,
                            "value": v if system == "A" else 50.0 if key == "s" else 1.0,
                        }
                    )
    return pd.DataFrame(rows)


def test_a_mean_interval_beyond_the_scale_is_clipped_and_says_so():
    dims = [{"key": "s", "type": "slider"}, {"key": "box", "type": "checkbox"}]
    res = analyze(_tiny_study(), protocol="rating", dimensions=dims, options=FAST)
    summary = res.tables()["summary"]
    ctx = TableContext.from_result(res)
    table = rt.readable("summary", summary, ctx)
    ci = table.headers.index("95% CI")
    notes = dict(table.notes)
    for (_, r), cells in zip(summary.iterrows(), table.rows, strict=True):
        lo, hi = (0.0, 100.0) if r["dimension"] == "s" else (0.0, 1.0)
        if r["system"] == "A":  # the machine table keeps the t-interval as computed
            assert r["ci_low"] < lo and r["ci_high"] > hi
            assert cells[ci].text == f"[{fmt.fixed(lo, 2)}, {fmt.fixed(hi, 2)}]"
            assert "clipped to the scale" in notes[cells[ci].marker]
            assert f"({fmt.fixed(lo, 0)}–{fmt.fixed(hi, 0)})" in notes[cells[ci].marker]
        else:  # no variation: an interval of one point, nothing to clip
            assert cells[ci].marker is None
    md = tbl.to_markdown("summary", summary, context=ctx)
    assert "[0.00, 100.00]ᵃ" in md or "[0.00, 100.00]ᵇ" in md
    assert "-154" not in md and "clipped to the scale" in md
    tex = tbl.to_latex("summary", summary, context=ctx)
    assert "100.00]\\textsuperscript{" in tex


def test_position_effect_on_a_perfectly_linear_rating_is_an_exact_fit():
    pos = np.arange(12, dtype=float)
    y = 3.0 + 0.7 * pos  # rounding noise only in the residuals
    res = st.position_effect(y, pos)
    assert res.slope == pytest.approx(0.7) and res.se == 0.0 and res.t == math.inf
    assert res.p == 0.0 and "exact fit" in res.method
    noisy = st.position_effect(y + np.tile([0.1, -0.1], 6), pos)  # a real residual
    assert 0 < noisy.se and math.isfinite(noisy.t)
    ols = stats.linregress(pos, y + np.tile([0.1, -0.1], 6))
    assert noisy.se == pytest.approx(ols.stderr, rel=1e-9)
    frame = pd.DataFrame(
        [
            {
                "dimension": "s",
                "factor": "position",
                "estimate": res.slope,
                "se": res.se,
                "statistic": res.t,
                "df": res.df,
                "p_value": res.p,
                "n": res.n,
            }
        ]
    )
    table = rt.readable("position_effects", frame)
    cells = dict(zip(table.headers, table.rows[0], strict=True))
    assert cells["t"].text == "inf" and cells["t"].marker and cells["SE"].marker
    assert "exact fit" in dict(table.notes)[cells["t"].marker]
