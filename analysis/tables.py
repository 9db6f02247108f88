"""Result tables as CSV, JSON, LaTeX (booktabs) and Markdown, and as plain cells for the
researcher console.

Numbers are written by :mod:`analysis.formatting` (the one place for those rules): CSV /
JSON with 6 significant digits, readable tables with 2-3 decimals, p-values "<0.001",
shares in %, noise within 1e-12 of zero as 0, booleans Yes / No.

Two layers:

* machine-readable (:func:`to_csv`, :func:`to_json`): every column of the analysis table,
  keys as they are (``dimension`` is the dimension key) plus ``dimension_label`` (the spec's
  label) as the last column when a :class:`TableContext` is given;
* readable (:func:`readable`, rendered by :func:`to_markdown`, :func:`to_latex` and the
  console): dimension labels, words for metrics and quantities, Yes / No, and a footnote
  for every missing value ("–") that the table can explain.

Text (system and dimension names come from users) is escaped for LaTeX and Markdown.

The captions and :class:`TableContext` live in ``analysis.table_context``, the readable
layer in ``analysis.readable_tables``; this module renders both and re-exports their
public names.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from core.csv_cells import escape_formula

from . import formatting as fmt
from .readable_tables import (
    Cell,
    Column,
    ReadableTable,
    flag_explanations,
    flag_reasons,
    layout,
    readable,
    superscript,
)
from .table_context import TITLES, TableContext, plain_title, title

__all__ = [
    "TITLES",
    "TableContext",
    "ReadableTable",
    "Cell",
    "Column",
    "title",
    "readable",
    "layout",
    "flag_explanations",
    "flag_reasons",
    "to_csv",
    "to_json",
    "to_latex",
    "to_markdown",
    "records",
    "latex_escape",
    "markdown_escape",
]


# --------------------------------------------------------------------------------------
# Machine-readable: CSV and JSON
# --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-safe plain value (see :func:`analysis.formatting.machine_value`)."""
    return fmt.machine_value(value)


def _with_labels(frame: pd.DataFrame, context: TableContext | None) -> pd.DataFrame:
    if context is None or "dimension" not in frame.columns:
        return frame
    out = frame.copy()
    out["dimension_label"] = [context.label(k) for k in frame["dimension"]]
    return out


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as lists of plain dicts (column order kept)."""
    cols = list(frame.columns)
    return [
        {c: _plain(v) for c, v in zip(cols, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def to_csv(frame: pd.DataFrame, context: TableContext | None = None) -> str:
    """CSV text (comma separated, "\\n" line ends, minimal quoting); with a context, the
    dimension's label follows as the last column ``dimension_label``."""
    frame = _with_labels(frame, context)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        # text cells (annotator ids and names from imported files) are formula-escaped like
        # the judgments export (core.csv_cells); numbers are written as numbers
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


def _cell(value: Any) -> str:
    text = fmt.machine_text(value)
    return escape_formula(text) if isinstance(value, str) else text


def to_json(name: str, frame: pd.DataFrame, context: TableContext | None = None) -> str:
    """``{"table", "title", "columns", "rows"}`` as indented JSON text."""
    frame = _with_labels(frame, context)
    payload = {
        "table": name,
        "title": plain_title(name, context),
        "columns": list(frame.columns),
        "rows": records(frame),
    }
    return json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------
# LaTeX
# --------------------------------------------------------------------------------------

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",  # a bare | prints as a dash in the default OT1 font encoding
    # characters the readable layer uses, which pdflatex's default setup cannot typeset
    "α": r"$\alpha$",
    "κ": r"$\kappa$",
    "ρ": r"$\rho$",
    "–": "--",
    "−": "$-$",
    "×": r"$\times$",
    "½": r"$\frac{1}{2}$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_latex(
    name: str,
    frame: pd.DataFrame,
    *,
    context: TableContext | None = None,
    label_prefix: str = "tab:",
) -> str:
    """A ``table`` environment with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``);
    footnotes explaining missing values follow the tabular."""
    table = readable(name, frame, context)
    spec = "".join(table.align)
    lines = [
        "% generated by evalsite; needs \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{latex_escape(table.title)}}}",
        f"\\label{{{label_prefix}{name.replace('_', '-')}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(_latex_header(h) for h in table.headers) + " \\\\",
        "\\midrule",
    ]
    if not table.rows:
        lines.append(f"\\multicolumn{{{len(table.headers)}}}{{c}}{{(no rows)}} \\\\")
    for cells in table.rows:
        lines.append(" & ".join(_latex_cell(c) for c in cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    notes = [f"\\textsuperscript{{{m}}}\\,{latex_escape(why)}." for m, why in table.notes]
    notes += [latex_escape(r) for r in table.remarks]
    if notes:
        lines.append("\\par\\smallskip")
        lines.append("{\\footnotesize " + "\\\\\n".join(notes) + "\\par}")
    lines += ["\\end{table}", ""]
    return "\n".join(lines)


def _latex_header(text: str) -> str:
    special = {
        "d_z": "$d_z$",
        "t": "$t$",
        "p": "$p$",
        "n": "$n$",
        "g": "$g$",
        "Pearson r": "Pearson $r$",
        "Spearman ρ": "Spearman $\\rho$",
        "p (ρ)": "$p$ ($\\rho$)",
    }
    if text in special:
        return special[text]
    if text.startswith("p ("):
        return "$p$ " + latex_escape(text[2:])
    return latex_escape(text).replace("A - B", "A $-$ B")


def _latex_cell(cell: Cell) -> str:
    mark = f"\\textsuperscript{{{cell.marker}}}" if cell.marker else ""
    if cell.text is None:
        return "--" + mark
    return _latex_value(cell.text) + mark


def _latex_value(text: str) -> str:
    if text == "inf":
        return "$\\infty$"
    if text == "-inf":
        return "$-\\infty$"
    if text.startswith("<0.001"):
        return "$<$0.001"
    if _looks_numeric(text):
        return text.replace("-", "$-$")
    return latex_escape(text)


def _looks_numeric(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return cell.startswith("[") and cell.endswith("]")


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------

_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def markdown_escape(text: str) -> str:
    """Escape what Markdown would interpret in a table cell or list item: backslash, pipe,
    emphasis stars, backticks, HTML angle brackets and underscores at word edges (an
    underscore inside a word, as in ``sft_dpo``, is literal in GitHub Markdown)."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "*`<>":
        out = out.replace(ch, "\\" + ch)
    return _MD_UNDERSCORE.sub(r"\\_", out)


def to_markdown(
    name: str, frame: pd.DataFrame, *, context: TableContext | None = None, heading: bool = True
) -> str:
    """A GitHub-flavoured pipe table (with an optional ``###`` heading), followed by the
    footnotes that explain its missing values."""
    table = readable(name, frame, context)
    align = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = []
    if heading:
        lines += [f"### {markdown_escape(table.title)}", ""]
    lines.append("| " + " | ".join(markdown_escape(h) for h in table.headers) + " |")
    lines.append("| " + " | ".join(align[a] for a in table.align) + " |")
    if not table.rows:
        lines.append("| " + " | ".join(["(no rows)"] + [""] * (len(table.headers) - 1)) + " |")
    for cells in table.rows:
        lines.append("| " + " | ".join(markdown_escape(c.plain()) for c in cells) + " |")
    if table.notes or table.remarks:
        lines.append("")
        lines += [f"- {superscript(m)} {markdown_escape(why)}." for m, why in table.notes]
        lines += [f"- {markdown_escape(r)}" for r in table.remarks]
    return "\n".join(lines) + "\n"


def markdown_list(values: Sequence[Any]) -> str:
    return ", ".join(markdown_escape(v) for v in values)
