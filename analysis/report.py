"""report.md: the analysis in words (data, every method with its resample counts and seed)
followed by the result tables in Markdown. Deterministic: no dates, no absolute paths."""

from __future__ import annotations

from collections.abc import Sequence

from . import tables as tbl

__all__ = ["render_report"]

_SECTIONS = (
    ("Results", ("summary", "comparisons", "winrates", "bradley_terry", "agreement")),
    ("Diagnostics", ("length_bias", "position_effects", "annotator_quality", "exclusion_effect")),
)


def _options_line(options: dict) -> str:
    parts = []
    for key, value in options.items():
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value) or "-"
        parts.append(f"{key}={value}")
    return "; ".join(parts)


def render_report(result, files: Sequence[str] = (), *, title: str | None = None) -> str:
    info = result.info
    name = title or info.get("study") or "study"
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
        f"({info['n_rows_analysed']} judgment × dimension rows; {info['n_rows_input']} rows given).",
        f"- Annotators: {info['n_annotators']}; contexts: {info['n_contexts']}.",
        "- Systems (in comparison order): "
        + ", ".join(tbl.markdown_escape(s) for s in result.systems) + ".",
        "- Dimensions: "
        + ", ".join(f"{tbl.markdown_escape(d['key'])} ({d['type']}, {d['level']})"
                    for d in result.dimensions) + ".",
        f"- Rows from expired leases (partial batches): {info.get('n_rows_partial', 0)} "
        f"({'included' if result.options.include_partial else 'left out'}).",
        "- Flagged annotators: "
        + (", ".join(tbl.markdown_escape(a) for a in info["flagged_annotators"]) or "none") + ".",
        "- Excluded annotators: "
        + (", ".join(tbl.markdown_escape(a) for a in info["excluded_annotators"]) or "none") + ".",
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
            lines.append(tbl.to_markdown(table_name, frame).replace("### ", "### ", 1))
    if files:
        lines += ["## Files", ""]
        lines += [f"- `{f}`" for f in files]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
