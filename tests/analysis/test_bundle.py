"""Golden-file tests of the results bundle for two small fixed studies (rating, pairwise).

Every text file of the bundle (CSV, LaTeX, Markdown, JSON, analysis.json, report.md) must
equal its golden copy under tests/analysis/golden/<study>/; figures must exist and be
non-empty (their bytes are not compared). After an intended change, regenerate with

    UPDATE_GOLDEN=1 .venv/bin/pytest tests/analysis/test_bundle.py

and review the diff of tests/analysis/golden/ before committing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.bundle import write_bundle
from analysis.study_analysis import AnalysisOptions, analyze
from analysis.tables import latex_escape, to_latex

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
TEXT_SUFFIXES = {".csv", ".tex", ".md", ".json"}

RATING_DIMS = [
    {"key": "empathy", "type": "slider"},
    {"key": "fluency", "type": "likert"},
    {"key": "consistent", "type": "checkbox"},
]
PAIR_DIMS = [{"key": "overall", "type": "choice"}, {"key": "respectful", "type": "choice"}]


def rating_study() -> pd.DataFrame:
    """3 annotators x 6 contexts x 3 systems (one with LaTeX-hostile characters), every item
    rated by all three; annotator 'fast' answers quickly and always the same."""
    rng = np.random.default_rng(2024)
    systems = {"baseline": 12.0, "R&D_bot": 4.0, "human": 0.0}
    rows = []
    for a_i, ann in enumerate(["anna", "bo", "fast"]):
        pos = 0
        for block, (system, shift) in enumerate(systems.items()):
            for c in range(6):
                noise = rng.normal(0, 9)
                for dim in RATING_DIMS:
                    if ann == "fast":
                        v = {"slider": 50.0, "likert": 3.0, "checkbox": 1.0}[dim["type"]]
                    elif dim["type"] == "slider":
                        v = float(np.clip(round(55 + shift + noise + 4 * a_i), 0, 100))
                    elif dim["type"] == "likert":
                        v = float(np.clip(round((55 + shift + noise) / 20), 1, 5))
                    else:
                        v = float(noise + shift > 0)
                    rows.append({
                        "annotator": ann, "context": f"ctx{c}", "system": system,
                        "dimension": dim["key"], "value": v, "position": pos, "block": block,
                        "batch": a_i, "time_on_item_ms": 1500 if ann == "fast" else 8000 + 500 * c,
                        "response_length": 8 + 3 * c + (10 if system == "baseline" else 0),
                        "assignment_status": "completed",
                    })
                pos += 1
    return pd.DataFrame(rows)


def pairwise_study() -> pd.DataFrame:
    """Two annotators compare 3 systems pairwise on 8 contexts; sides alternate."""
    rng = np.random.default_rng(7)
    strength = {"prost": 3.0, "gpt3": 1.0, "canary|rot": 1.5}
    names = list(strength)
    rows = []
    for ann in ("u1", "u2"):
        pos = 0
        for c in range(8):
            for i, sa in enumerate(names):
                for sb in names[i + 1:]:
                    left, right = (sa, sb) if (c + pos) % 2 == 0 else (sb, sa)
                    for dim in PAIR_DIMS:
                        p_left = strength[left] / (strength[left] + strength[right])
                        u = rng.random()
                        choice = "tie" if u < 0.25 else ("a" if rng.random() < p_left else "b")
                        rows.append({"annotator": ann, "context": f"ctx{c}", "system_a": left,
                                     "system_b": right, "dimension": dim["key"], "choice": choice,
                                     "position": pos, "time_on_item_ms": 6000})
                    pos += 1
    return pd.DataFrame(rows)


CASES = {
    "rating": lambda: analyze(rating_study(), protocol="rating", dimensions=RATING_DIMS,
                              options=AnalysisOptions(seed=11)),
    "pairwise": lambda: analyze(pairwise_study(), protocol="pairwise", dimensions=PAIR_DIMS,
                                options=AnalysisOptions(seed=11, n_bootstrap=500)),
}
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


def _text_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.suffix in TEXT_SUFFIXES)


def test_bundle_matches_golden_files(bundle):
    name, _, out, _ = bundle
    golden = GOLDEN / name
    produced = _text_files(out)
    if UPDATE:
        if golden.exists():
            shutil.rmtree(golden)
        for rel in produced:
            (golden / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out / rel, golden / rel)
    assert golden.exists(), f"no golden files for {name}: run with UPDATE_GOLDEN=1"
    assert produced == _text_files(golden), "the bundle's file list changed"
    for rel in produced:
        got = (out / rel).read_text(encoding="utf-8")
        want = (golden / rel).read_text(encoding="utf-8")
        assert got == want, f"{name}/{rel} differs from its golden copy (UPDATE_GOLDEN=1 to regenerate)"


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
    for rel in _text_files(again):
        if rel == "report.md":
            continue  # lists the figure files, which this run did not write
        assert (again / rel).read_text() == (out / rel).read_text(), rel


def test_expected_tables_per_protocol(bundle):
    name, result, out, _ = bundle
    csvs = sorted(p.name for p in out.glob("*.csv"))
    common = ["agreement.csv", "annotator_quality.csv", "exclusion_effect.csv",
              "length_bias.csv", "position_effects.csv", "summary.csv"]
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
    else:
        assert "canary\\textbar{}rot" in tex  # a bare | prints as a dash in OT1
        md = (out / "markdown" / "summary.md").read_text()
        assert "canary\\|rot" in md


def test_latex_escape_and_empty_tables():
    assert latex_escape("50% of #1 & $x_i$ {a} ~ ^ \\") == (
        "50\\% of \\#1 \\& \\$x\\_i\\$ \\{a\\} \\textasciitilde{} \\textasciicircum{} "
        "\\textbackslash{}")
    empty = to_latex("winrates", pd.DataFrame(columns=["dimension"]))
    assert "(no rows)" in empty and "\\bottomrule" in empty


def test_flagged_annotators_and_exclusion_effect(bundle):
    name, result, out, _ = bundle
    effect = pd.read_csv(out / "exclusion_effect.csv")
    if name == "rating":
        assert result.info["flagged_annotators"] == ["fast"]
        assert len(effect) and (effect.n_annotators_excluded == 1).all()
    else:
        assert result.info["flagged_annotators"] == [] and effect.empty
        assert "no annotator was flagged or excluded" in (out / "report.md").read_text()
