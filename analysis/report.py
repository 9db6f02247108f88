"""report.md: the analysis in words (data, every method with its resample counts and seed)
followed by the result tables in Markdown. Deterministic: no dates, no absolute paths.

Written for a reader preparing a paper: dimensions by their labels, counts with the right
noun ("1 annotator"), Yes / No for booleans, every missing value in a table explained by a
footnote, and a sentence instead of an empty table (e.g. no exclusion-effect table when
nobody was flagged or excluded).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import formatting as fmt
from . import tables as tbl
from .quality_control_report import markdown_lines as quality_control_lines

if TYPE_CHECKING:
    from .result import AnalysisResult

__all__ = ["render_report"]

_SECTIONS = (
    (
        "Results",
        ("summary", "comparisons", "mixed_models", "winrates", "bradley_terry", "agreement"),
    ),
    ("Diagnostics", ("length_bias", "position_effects", "annotator_quality", "exclusion_effect")),
)

# what the report says instead of an empty table
_EMPTY = {
    "length_bias": "No response lengths were recorded with these judgments, so there is no "
    "length-bias correlation.",
    "position_effects": "No positions or blocks were recorded with these judgments, so there "
    "is no position or order effect to estimate.",
    "exclusion_effect": "No annotator was flagged or excluded, so there is no exclusion effect "
    "to show.",
    "bradley_terry": "No Bradley–Terry strengths could be estimated (see Methods).",
}
# options whose None means "everything" rather than "rule switched off"
_NONE_MEANS_ALL = ("systems", "dimensions")


def _option_value(key: str, value: Any) -> str:
    if value is None:
        return "all" if key in _NONE_MEANS_ALL else "off"
    if isinstance(value, bool):
        return fmt.yes_no(value) or ""
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "none"
    return str(value)


def _options_line(options: dict) -> str:
    return "; ".join(f"{key}={_option_value(key, value)}" for key, value in options.items())


def _dimension_line(d: dict) -> str:
    label = fmt.dimension_label(d)
    kind = "checkbox: Yes / No" if d["type"] == "checkbox" else d["type"]
    what = f"{kind}, {d['level']}"
    if label != d["key"]:
        return f"{tbl.markdown_escape(label)} (`{d['key']}`; {what})"
    return f"{tbl.markdown_escape(label)} ({what})"


def _flagged_line(result: AnalysisResult) -> str:
    flagged = result.info["flagged_annotators"]
    if not flagged:
        return "none"
    quality = result.annotator_quality
    rows = {str(r["annotator"]): r for r in quality.to_dict("records")}
    opts = result.info.get("options", {})
    out = []
    for a in flagged:
        why = tbl.flag_explanations(rows.get(a, {}), opts)
        out.append(
            tbl.markdown_escape(a) + (f": {tbl.markdown_escape(', '.join(why))}" if why else "")
        )
    return "; ".join(out)


def render_report(
    result: AnalysisResult, files: Sequence[str] = (), *, title: str | None = None
) -> str:
    info = result.info
    ctx = tbl.TableContext.from_result(result)
    name = title or info.get("study") or "study"
    n_rows_given = info["n_rows_input"]
    lines = [
        f"# Analysis report: {tbl.markdown_escape(name)}",
        "",
        f"Protocol: **{result.protocol}**. Produced by evalsite's study-level analysis "
        "(`analysis/study_analysis.py`); every number below can be regenerated from the same "
        "judgments with the options listed here.",
        "",
        "## Data",
        "",
        f"- Judgments analysed: {info['n_judgments_analysed']} "
        f"({fmt.plural(info['n_rows_analysed'], 'judgment × dimension row')}; "
        f"{fmt.plural(n_rows_given, 'row')} given).",
        f"- {fmt.plural(info['n_annotators'], 'annotator')} on "
        f"{fmt.plural(info['n_contexts'], 'context')}.",
        "- Systems (in comparison order): "
        + ", ".join(tbl.markdown_escape(s) for s in result.systems)
        + ".",
        "- Dimensions: " + ", ".join(_dimension_line(d) for d in result.dimensions) + ".",
        f"- Rows from expired leases (partial batches): {info.get('n_rows_partial', 0)} "
        f"({'included' if result.options.include_partial else 'left out'}).",
        f"- Flagged annotators: {_flagged_line(result)}.",
        "- Excluded annotators: "
        + (", ".join(tbl.markdown_escape(a) for a in info["excluded_annotators"]) or "none")
        + ".",
        f"- Options: {tbl.markdown_escape(_options_line(info['options']))}.",
        "",
        "## Methods",
        "",
    ]
    lines += [f"- {tbl.markdown_escape(sentence)}" for sentence in result.methods]
    lines.append("")
    available = result.applicable_tables()
    for section, names in _SECTIONS:
        lines += [f"## {section}", ""]
        for table_name in names:
            if table_name not in available:
                continue
            frame = available[table_name]
            if frame.empty:
                lines += [
                    f"### {tbl.markdown_escape(tbl.readable(table_name, frame, ctx).title)}",
                    "",
                ]
                lines += [_EMPTY.get(table_name, "(no rows)"), ""]
                continue
            lines.append(tbl.to_markdown(table_name, frame, context=ctx))
    lines += quality_control_lines(info.get("quality_control"))
    if files:
        lines += ["## Files", ""]
        lines += [f"- `{f}`" for f in files]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
