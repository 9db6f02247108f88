"""The two small fixed studies of the golden-file tests, and the comparison of a bundle with
its golden copy: structure, column names, labels and all other text exactly, numbers within
a tolerance.

Why a tolerance: the same statistics computed with another BLAS kernel, CPU or library
version differ in the last bits (a correlation of exactly 0 comes out as -1.1e-17 on one
machine). The bundle's writers remove most of that (:mod:`analysis.formatting`: noise
within 1e-12 of zero is 0, every number is first rounded to 10 significant digits), and
the comparison allows what may remain. A real change of a statistic is far larger than
the tolerance; a changed label, heading, column or word is never allowed.

Also run as a script by ``test_bundle.py`` in child processes with different OpenBLAS
kernels (``OPENBLAS_CORETYPE``)::

    python -m tests.analysis.golden_bundles OUT_DIR   # prints a JSON report, exit 0
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.bundle import write_bundle
from analysis.study_analysis import AnalysisOptions, analyze

# Tolerance for numbers in golden files: |got - want| <= max(REL_TOL * max(|got|, |want|),
# ABS_TOL). Files carry 6 significant digits (CSV / JSON) or 2-3 decimals (the rest), so
# any real change of a printed number exceeds this; platform noise does not.
REL_TOL = 1e-6
ABS_TOL = 1e-9

GOLDEN = Path(__file__).parent / "golden"
TEXT_SUFFIXES = {".csv", ".tex", ".md", ".json"}

RATING_DIMS = [
    {"key": "empathy", "type": "slider", "label": "Emotion understanding"},
    {"key": "fluency", "type": "likert"},  # no label: shown by its key
    {"key": "consistent", "type": "checkbox", "label": "Understandable & consistent"},
]
PAIR_DIMS = [
    {"key": "overall", "type": "choice", "label": "Overall preference"},
    {"key": "respectful", "type": "choice", "label": "Respectful"},
]


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
                    rows.append(
                        {
                            "annotator": ann,
                            "context": f"ctx{c}",
                            "system": system,
                            "dimension": dim["key"],
                            "value": v,
                            "position": pos,
                            "block": block,
                            "batch": a_i,
                            "time_on_item_ms": 1500 if ann == "fast" else 8000 + 500 * c,
                            "response_length": 8 + 3 * c + (10 if system == "baseline" else 0),
                            "assignment_status": "completed",
                        }
                    )
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
                for sb in names[i + 1 :]:
                    left, right = (sa, sb) if (c + pos) % 2 == 0 else (sb, sa)
                    for dim in PAIR_DIMS:
                        p_left = strength[left] / (strength[left] + strength[right])
                        u = rng.random()
                        choice = "tie" if u < 0.25 else ("a" if rng.random() < p_left else "b")
                        rows.append(
                            {
                                "annotator": ann,
                                "context": f"ctx{c}",
                                "system_a": left,
                                "system_b": right,
                                "dimension": dim["key"],
                                "choice": choice,
                                "position": pos,
                                "time_on_item_ms": 6000,
                            }
                        )
                    pos += 1
    return pd.DataFrame(rows)


CASES = {
    "rating": lambda: analyze(
        rating_study(), protocol="rating", dimensions=RATING_DIMS, options=AnalysisOptions(seed=11)
    ),
    "pairwise": lambda: analyze(
        pairwise_study(),
        protocol="pairwise",
        dimensions=PAIR_DIMS,
        options=AnalysisOptions(seed=11, n_bootstrap=500),
    ),
}


def write_case(name: str, out: Path, *, plots: bool = True) -> list[Path]:
    return write_bundle(CASES[name](), out, plots=plots, title=f"golden-{name}")


def text_files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.suffix in TEXT_SUFFIXES
    )


# --------------------------------------------------------------------------------------
# The comparator
# --------------------------------------------------------------------------------------

NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def close(got: float, want: float) -> bool:
    if math.isnan(got) or math.isnan(want):
        return math.isnan(got) and math.isnan(want)
    return math.isclose(got, want, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _as_number(text: str) -> float | None:
    text = text.strip()
    if not text or not NUMBER.fullmatch(text) and text not in ("inf", "-inf"):
        return None
    return float(text)


def split_numbers(text: str) -> tuple[list[str], list[float]]:
    """The text between numbers (compared exactly) and the numbers (with tolerance)."""
    return NUMBER.split(text), [float(m) for m in NUMBER.findall(text)]


def compare_text(got: str, want: str, where: str) -> list[str]:
    """Line by line: the words exactly, the numbers within the tolerance."""
    got_lines, want_lines = got.splitlines(), want.splitlines()
    if len(got_lines) != len(want_lines):
        return [f"{where}: {len(got_lines)} lines, golden has {len(want_lines)}"]
    problems = []
    for i, (g, w) in enumerate(zip(got_lines, want_lines, strict=True), 1):
        g_text, g_nums = split_numbers(g)
        w_text, w_nums = split_numbers(w)
        if g_text != w_text or len(g_nums) != len(w_nums):
            problems.append(f"{where}:{i}: text differs\n  got:    {g}\n  golden: {w}")
            continue
        for a, b in zip(g_nums, w_nums, strict=True):
            if not close(a, b):
                problems.append(
                    f"{where}:{i}: {a!r} vs golden {b!r} (beyond rel {REL_TOL}, "
                    f"abs {ABS_TOL})\n  got:    {g}\n  golden: {w}"
                )
                break
    return problems


def compare_csv(got: str, want: str, where: str) -> list[str]:
    g_rows = list(csv.reader(io.StringIO(got)))
    w_rows = list(csv.reader(io.StringIO(want)))
    if not g_rows or not w_rows or g_rows[0] != w_rows[0]:
        return [f"{where}: columns {g_rows[:1]} differ from golden {w_rows[:1]}"]
    if len(g_rows) != len(w_rows):
        return [f"{where}: {len(g_rows) - 1} rows, golden has {len(w_rows) - 1}"]
    header = g_rows[0]
    problems = []
    for i, (g, w) in enumerate(zip(g_rows[1:], w_rows[1:], strict=True), 2):
        if len(g) != len(w):
            problems.append(f"{where}:{i}: {len(g)} cells, golden has {len(w)}")
            continue
        for col, a, b in zip(header, g, w, strict=True):
            na, nb = _as_number(a), _as_number(b)
            same = close(na, nb) if na is not None and nb is not None else a == b
            if not same:
                problems.append(f"{where}:{i}: column {col}: {a!r} vs golden {b!r}")
    return problems


def _compare_json_values(got, want, path: str, problems: list[str]) -> None:
    number = (int, float)
    if isinstance(got, bool) or isinstance(want, bool):
        if got is not want:
            problems.append(f"{path}: {got!r} vs golden {want!r}")
    elif isinstance(got, number) and isinstance(want, number):
        if not close(float(got), float(want)):
            problems.append(f"{path}: {got!r} vs golden {want!r}")
    elif isinstance(got, dict) and isinstance(want, dict):
        if list(got) != list(want):
            problems.append(f"{path}: keys {list(got)} vs golden {list(want)}")
            return
        for key in got:
            _compare_json_values(got[key], want[key], f"{path}.{key}", problems)
    elif isinstance(got, list) and isinstance(want, list):
        if len(got) != len(want):
            problems.append(f"{path}: {len(got)} entries vs golden {len(want)}")
            return
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            _compare_json_values(a, b, f"{path}[{i}]", problems)
    elif isinstance(got, str) and isinstance(want, str):
        problems += [p.replace("\n", " ") for p in compare_text(got, want, path)]
    elif got != want or type(got) is not type(want):
        problems.append(f"{path}: {got!r} vs golden {want!r}")


def compare_json(got: str, want: str, where: str) -> list[str]:
    problems: list[str] = []
    _compare_json_values(json.loads(got), json.loads(want), where, problems)
    return problems


def compare_file(rel: str, got: str, want: str) -> list[str]:
    """Differences between a produced text file and its golden copy beyond the tolerance."""
    if rel.endswith(".csv"):
        return compare_csv(got, want, rel)
    if rel.endswith(".json"):
        return compare_json(got, want, rel)
    return compare_text(got, want, rel)


def compare_bundle(name: str, out: Path, golden: Path | None = None) -> list[str]:
    golden = golden or GOLDEN / name
    if not golden.exists():
        return [f"no golden files for {name}: run with UPDATE_GOLDEN=1"]
    produced, expected = text_files(out), text_files(golden)
    if produced != expected:
        return [
            f"{name}: the bundle's file list changed: extra {sorted(set(produced) - set(expected))}, "
            f"missing {sorted(set(expected) - set(produced))}"
        ]
    problems = []
    for rel in produced:
        got = (out / rel).read_text(encoding="utf-8")
        want = (golden / rel).read_text(encoding="utf-8")
        problems += [f"{name}/{p}" for p in compare_file(rel, got, want)]
    return problems


# --------------------------------------------------------------------------------------
# Which BLAS kernel runs (for the child processes)
# --------------------------------------------------------------------------------------


def openblas_corenames() -> list[str]:
    """The kernel ("core") each loaded OpenBLAS library uses: threadpoolctl when installed,
    else the libraries' own ``*openblas_get_corename*`` read through ctypes."""
    import numpy  # noqa: F401 - loads numpy's OpenBLAS
    import scipy.linalg  # noqa: F401 - and scipy's

    try:
        import threadpoolctl
    except ImportError:
        threadpoolctl = None
    if threadpoolctl is not None:
        info = threadpoolctl.threadpool_info()
        return [str(i.get("architecture")) for i in info if i.get("internal_api") == "openblas"]
    import ctypes

    libs = []
    try:
        with open("/proc/self/maps") as maps:
            libs = sorted(
                {
                    line.split()[-1]
                    for line in maps
                    if "openblas" in line.lower() and line.split()[-1].startswith("/")
                }
            )
    except OSError:
        return []
    names = []
    for path in libs:
        lib = ctypes.CDLL(path)
        for symbol in (
            "openblas_get_corename",
            "openblas_get_corename64_",
            "scipy_openblas_get_corename",
            "scipy_openblas_get_corename64_",
        ):
            fn = getattr(lib, symbol, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                names.append(fn().decode())
                break
    return names


def child_main(argv: list[str]) -> int:
    """Write both golden bundles under argv[0] and compare them; print a JSON report."""
    out = Path(argv[0])
    report = {"corenames": openblas_corenames(), "problems": []}
    for name in sorted(CASES):
        write_case(name, out / name)
        report["problems"] += compare_bundle(name, out / name)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(child_main(sys.argv[1:]))
