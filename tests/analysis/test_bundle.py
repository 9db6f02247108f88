"""Golden-file tests of the results bundle for two small fixed studies (rating, pairwise).

Every text file of the bundle (CSV, LaTeX, Markdown, JSON, analysis.json, report.md) must
match its golden copy under tests/analysis/golden/<study>/: file list, structure, column
names, labels and all words exactly, numbers within the tolerance stated in
``golden_bundles`` (REL_TOL = 1e-6, ABS_TOL = 1e-9), because the last bits of a statistic
depend on the BLAS kernel and CPU. Figures must exist and be non-empty (their bytes are not
compared). After an intended change, regenerate with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/analysis/test_bundle.py

and review the diff of tests/analysis/golden/ before committing.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.bundle import write_bundle
from analysis.tables import latex_escape, to_latex
from tests.analysis import golden_bundles as gb
from tests.analysis.golden_bundles import ABS_TOL, CASES, GOLDEN, REL_TOL

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
REPO = Path(__file__).resolve().parents[2]
FIGURES = {
    "rating": ["rating_distributions", "length_bias"],
    "pairwise": ["winrates", "bradley_terry"],
}


@pytest.fixture(scope="module", params=sorted(CASES))
def bundle(request, tmp_path_factory):
    name = request.param
    result = CASES[name]()
    out = tmp_path_factory.mktemp(f"bundle-{name}")
    files = write_bundle(result, out, title=f"golden-{name}")
    return name, result, out, files


def test_bundle_matches_golden_files(bundle):
    name, _, out, _ = bundle
    golden = GOLDEN / name
    if UPDATE:
        if golden.exists():
            shutil.rmtree(golden)
        for rel in gb.text_files(out):
            (golden / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / rel, golden / rel)
    problems = gb.compare_bundle(name, out)
    assert not problems, (
        "bundle differs from its golden copy (UPDATE_GOLDEN=1 to regenerate):\n"
        + "\n".join(problems[:20])
    )


# ------------------------------------------------------------------ the comparator itself

CSV = "dimension,metric,value,note\nempathy,krippendorff_alpha,0.259129,\nfluency,fleiss_kappa,-0.0271,categories 2-4\n"
JSON = json.dumps(
    {
        "table": "agreement",
        "columns": ["dimension", "value"],
        "rows": [{"dimension": "empathy", "value": 0.259129, "ok": True}],
    }
)
MD = (
    "| Dimension | Metric | Value | 95% CI |\n| :--- | :--- | ---: | :---: |\n"
    "| Emotion understanding | ICC(2,1) | 0.061 | [-0.062, 0.284] |\n"
)
TEX = "Emotion understanding & ICC(2,1) & 0.061 & [$-$0.062, 0.284] \\\\\n"
REPORT = "- Data: 54 judgments by 3 annotators on 6 contexts.\n"


@pytest.mark.parametrize(
    "rel, text",
    [
        ("agreement.csv", CSV),
        ("json/agreement.json", JSON),
        ("markdown/agreement.md", MD),
        ("latex/agreement.tex", TEX),
        ("report.md", REPORT),
    ],
)
def test_comparator_allows_noise_and_rejects_changes(rel, text):
    assert gb.compare_file(rel, text, text) == []
    # noise: a relative change far below REL_TOL, or an absolute one below ABS_TOL at zero
    noisy = text.replace("0.259129", repr(0.259129 * (1 + REL_TOL / 100))).replace(
        "0.061", "0.0610000000001"
    )
    assert gb.compare_file(rel, noisy, text) == [], "noise within the tolerance must pass"
    for changed in (
        text.replace("0.259129", "0.259139").replace("0.061", "0.062").replace(" 3 ", " 4 "),
        text.replace("empathy", "empathie")
        .replace("Emotion", "Emotional")
        .replace("judgments", "ratings"),
        text.replace("ICC(2,1)", "ICC(2,k)")
        .replace("metric", "measure")
        .replace("annotators", "raters")
        .replace('"value"', '"val"'),
    ):
        assert changed != text
        assert gb.compare_file(rel, changed, text), f"{rel}: a real change must fail"


def test_comparator_tolerance_is_what_the_module_states():
    assert gb.close(1.0, 1.0 + 0.5 * REL_TOL) and not gb.close(1.0, 1.0 + 2 * REL_TOL)
    assert gb.close(0.0, 0.5 * ABS_TOL) and not gb.close(0.0, 2 * ABS_TOL)
    assert gb.close(-1.14919e-17, 0.0)  # the value that made the golden test platform-dependent
    # a number turned into text, or text into a number, is a change of the text
    assert gb.compare_csv("a\n1\n", "a\nx\n", "t.csv") and gb.compare_text("p 0.1", "p <0.1", "t")


def test_comparator_reports_the_place_of_a_difference(tmp_path):
    golden, out = tmp_path / "golden" / "x", tmp_path / "out"
    for root, value in ((golden, "0.5"), (out, "0.6")):
        (root / "markdown").mkdir(parents=True)
        (root / "markdown" / "t.md").write_text(f"| a |\n| {value} |\n")
    problems = gb.compare_bundle("x", out, golden)
    assert len(problems) == 1 and "markdown/t.md:2" in problems[0] and "0.6" in problems[0]
    (out / "extra.csv").write_text("a\n")
    assert "file list changed" in gb.compare_bundle("x", out, golden)[0]


# ------------------------------------------------------- the same bundle under two kernels


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


# OpenBLAS builds without its oldest kernels alias them to Prescott's, and report the
# first alias's name ("Katmai"); any of these means the Prescott (SSE3) kernels ran.
PRESCOTT_NAMES = {"prescott", "katmai", "coppermine", "northwood", "banias"}


def test_golden_files_hold_under_two_blas_kernels(tmp_path):
    """The golden comparison, run in child processes with OpenBLAS forced to its Haswell
    (AVX2) and its Prescott (SSE3) kernels, passes in both: the bundle does not depend on
    the machine's BLAS."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(
            f"OPENBLAS_CORETYPE kernels Haswell / Prescott exist on x86-64 only "
            f"(this is {platform.machine()})"
        )
    if sys.platform.startswith("linux") and "avx2" not in _cpu_flags():
        pytest.skip("this x86-64 CPU has no AVX2, so OpenBLAS cannot run its Haswell kernel")
    runs = {}
    procs = {}
    for core in ("Haswell", "Prescott"):
        env = dict(
            os.environ,
            OPENBLAS_CORETYPE=core,
            OPENBLAS_NUM_THREADS="1",
            PYTHONPATH=str(REPO),
            MPLBACKEND="Agg",
        )
        env.pop("UPDATE_GOLDEN", None)
        procs[core] = subprocess.Popen(
            [sys.executable, "-m", "tests.analysis.golden_bundles", str(tmp_path / core)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    for core, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{core} child failed:\n{stderr[-3000:]}"
        runs[core] = json.loads(stdout.strip().splitlines()[-1])
    names = {core: {n.lower() for n in run["corenames"]} for core, run in runs.items()}
    if not names["Haswell"] and not names["Prescott"]:
        pytest.skip(
            "numpy / scipy are not linked against OpenBLAS here (no OpenBLAS library "
            "loaded), so OPENBLAS_CORETYPE selects nothing"
        )
    assert names["Haswell"] == {"haswell"}, f"the Haswell child ran {runs['Haswell']['corenames']}"
    assert names["Prescott"] and names["Prescott"] <= PRESCOTT_NAMES, (
        f"the Prescott child ran {runs['Prescott']['corenames']}"
    )
    for core, run in runs.items():
        assert not run["problems"], f"with OPENBLAS_CORETYPE={core}:\n" + "\n".join(
            run["problems"][:20]
        )


# ------------------------------------------------------------------------ the bundle itself


def test_figures_exist_and_are_not_empty(bundle):
    name, _, out, files = bundle
    for stem in FIGURES[name]:
        for ext in ("png", "svg"):
            path = out / "plots" / f"{stem}.{ext}"
            assert path in files and path.stat().st_size > 1000, path
    svg = (out / "plots" / f"{FIGURES[name][0]}.svg").read_text()
    assert "<dc:date>" not in svg  # no timestamp: the same result gives the same file


def test_bundle_is_deterministic(bundle, tmp_path):
    name, result, out, _ = bundle
    again = tmp_path / "again"
    write_bundle(CASES[name](), again, plots=False, title=f"golden-{name}")
    for rel in gb.text_files(again):
        if rel == "report.md":
            continue  # lists the figure files, which this run did not write
        assert (again / rel).read_text() == (out / rel).read_text(), rel


def test_expected_tables_per_protocol(bundle):
    name, result, out, _ = bundle
    csvs = sorted(p.name for p in out.glob("*.csv"))
    common = [
        "agreement.csv",
        "annotator_quality.csv",
        "exclusion_effect.csv",
        "length_bias.csv",
        "position_effects.csv",
        "summary.csv",
    ]
    if name == "rating":
        assert csvs == sorted(common + ["comparisons.csv"])
    else:
        assert csvs == sorted(common + ["bradley_terry.csv", "winrates.csv"])
    report = (out / "report.md").read_text()
    for sentence in result.methods[:3]:
        assert sentence.split(" ")[0] in report


def test_latex_is_escaped_booktabs(bundle):
    name, _, out, _ = bundle
    tex = (out / "latex" / "summary.tex").read_text()
    assert tex.count("\\toprule") == tex.count("\\midrule") == tex.count("\\bottomrule") == 1
    if name == "rating":
        assert "R\\&D\\_bot" in tex and "R&D_bot" not in tex
        assert "Understandable \\& consistent" in tex
    else:
        assert "canary\\textbar{}rot" in tex  # a bare | prints as a dash in OT1
        md = (out / "markdown" / "summary.md").read_text()
        assert "canary\\|rot" in md
    for path in (out / "latex").glob("*.tex"):
        text = path.read_text()
        assert not set(text) & set("αρκ–−×½"), f"{path.name}: characters pdflatex cannot set"


def test_latex_escape_and_empty_tables():
    assert latex_escape("50% of #1 & $x_i$ {a} ~ ^ \\") == (
        "50\\% of \\#1 \\& \\$x\\_i\\$ \\{a\\} \\textasciitilde{} \\textasciicircum{} "
        "\\textbackslash{}"
    )
    empty = to_latex("winrates", pd.DataFrame(columns=["dimension"]))
    assert "(no rows)" in empty and "\\bottomrule" in empty


def test_flagged_annotators_and_exclusion_effect(bundle):
    name, result, out, _ = bundle
    effect = pd.read_csv(out / "exclusion_effect.csv")
    report = (out / "report.md").read_text()
    if name == "rating":
        assert result.info["flagged_annotators"] == ["fast"]
        assert len(effect) and (effect.n_annotators_excluded == 1).all()
        assert "### What excluding the flagged annotators would change" in report
        assert "| Without flagged |" in report
    else:
        assert result.info["flagged_annotators"] == [] and effect.empty
        assert "no annotator was flagged or excluded" in report
