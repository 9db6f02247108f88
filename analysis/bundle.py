"""Write an analysis result as a results bundle: tables as CSV, LaTeX, Markdown and JSON,
figures as PNG and SVG, and report.md.

Layout of ``out_dir``::

    summary.csv, comparisons.csv | winrates.csv, agreement.csv, bradley_terry.csv (> 2
    systems, pairwise), length_bias.csv, position_effects.csv, annotator_quality.csv,
    exclusion_effect.csv
    latex/<table>.tex       booktabs table environments, ready to paste
    markdown/<table>.md     pipe tables
    json/<table>.json       {"table", "title", "columns", "rows"}
    analysis.json           protocol, counts, systems, dimensions, options, methods
    plots/<figure>.png|svg  (unless plots=False)
    report.md               the analysis in words plus the tables

Output is deterministic (stable row order, numbers written by :mod:`analysis.formatting`,
no timestamps, figure metadata stripped), so bundles can be compared with golden files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from . import formatting as fmt
from . import tables as tbl
from .report import render_report

if TYPE_CHECKING:
    from .result import AnalysisResult

__all__ = ["write_bundle", "BUNDLE_TABLES"]

BUNDLE_TABLES = (
    "summary",
    "comparisons",
    "winrates",
    "agreement",
    "bradley_terry",
    "length_bias",
    "position_effects",
    "annotator_quality",
    "exclusion_effect",
    "mixed_models",
)
_SUBDIRS = {"latex": ".tex", "markdown": ".md", "json": ".json"}


def _clear_previous(out: Path) -> None:
    """Remove files a previous bundle may have left (only names this writer produces)."""
    from .plots import FIGURES

    stale = [out / f"{n}.csv" for n in BUNDLE_TABLES]
    stale += [out / sub / f"{n}{ext}" for sub, ext in _SUBDIRS.items() for n in BUNDLE_TABLES]
    stale += [out / "plots" / f"{n}.{e}" for n in FIGURES for e in ("png", "svg")]
    stale += [out / "report.md", out / "analysis.json"]
    for path in stale:
        if path.is_file():
            path.unlink()


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def write_bundle(
    result: AnalysisResult, out_dir: str | Path, *, plots: bool = True, title: str | None = None
) -> list[Path]:
    """Write the bundle for ``result`` (an :class:`~analysis.study_analysis.AnalysisResult`)
    into ``out_dir`` (created if needed); return the files written, sorted."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clear_previous(out)
    written: list[Path] = []
    ctx = tbl.TableContext.from_result(result)
    for name, frame in result.applicable_tables().items():
        written.append(_write(out / f"{name}.csv", tbl.to_csv(frame, ctx)))
        written.append(
            _write(out / "latex" / f"{name}.tex", tbl.to_latex(name, frame, context=ctx))
        )
        written.append(
            _write(out / "markdown" / f"{name}.md", tbl.to_markdown(name, frame, context=ctx))
        )
        written.append(_write(out / "json" / f"{name}.json", tbl.to_json(name, frame, ctx)))
    meta = {
        "study": title or result.info.get("study"),
        "protocol": result.protocol,
        "systems": result.systems,
        "dimensions": result.dimensions,
        "info": {
            k: fmt.machine_value(v) if not isinstance(v, dict | list) else v
            for k, v in result.info.items()
        },
        "methods": result.methods,
        "tables": list(result.applicable_tables()),
    }
    written.append(
        _write(
            out / "analysis.json",
            json.dumps(meta, indent=2, ensure_ascii=False, default=str) + "\n",
        )
    )
    if plots:
        from .plots import write_plots

        written += write_plots(result, out / "plots")
    files = sorted(str(p.relative_to(out)) for p in written) + ["report.md"]
    written.append(_write(out / "report.md", render_report(result, sorted(files), title=title)))
    return sorted(written)
