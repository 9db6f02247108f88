"""Result tables as CSV, JSON, LaTeX (booktabs) and Markdown, with fixed formatting.

Deterministic by construction: rows keep the analysis's stable order, CSV / JSON floats are
written with 8 significant digits, LaTeX and Markdown round per column kind (means and effect
sizes 2 decimals, p-values 3 decimals or "<0.001", shares as percentages with 1 decimal).
Text (system and dimension names come from users) is escaped for LaTeX and Markdown.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "TITLES",
    "to_csv",
    "to_json",
    "to_latex",
    "to_markdown",
    "records",
]

TITLES = {
    "summary": "Ratings per system and dimension (item means)",
    "comparisons": "Pairwise comparisons of systems",
    "agreement": "Inter-annotator agreement per dimension",
    "winrates": "Head-to-head results: wins, ties and losses",
    "bradley_terry": "Bradley--Terry strengths",
    "length_bias": "Correlation of ratings with response length",
    "position_effects": "Position, block-order and side effects",
    "annotator_quality": "Annotator quality",
    "exclusion_effect": "What excluding annotators changes",
}

FLOAT_DIGITS = 8  # significant digits in CSV and JSON


# --------------------------------------------------------------------------------------
# Machine-readable: CSV and JSON
# --------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON-safe plain value: numpy scalars unwrapped, floats rounded to FLOAT_DIGITS
    significant digits, NaN -> None, +/-inf -> "inf" / "-inf"."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return float(f"{value:.{FLOAT_DIGITS}g}")
    if isinstance(value, int):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value) if not isinstance(value, (list, dict)) else value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as lists of plain dicts (column order kept)."""
    cols = list(frame.columns)
    return [
        {c: _plain(v) for c, v in zip(cols, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _csv_cell(value: Any) -> str:
    v = _plain(value)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.{FLOAT_DIGITS}g}"
    return str(v)


def to_csv(frame: pd.DataFrame) -> str:
    """CSV text (comma separated, "\\n" line ends, minimal quoting)."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(frame.columns))
    for row in frame.itertuples(index=False, name=None):
        writer.writerow([_csv_cell(v) for v in row])
    return out.getvalue()


def to_json(name: str, frame: pd.DataFrame) -> str:
    """``{"table", "title", "columns", "rows"}`` as indented JSON text."""
    payload = {
        "table": name,
        "title": TITLES.get(name, name).replace("--", "–"),
        "columns": list(frame.columns),
        "rows": records(frame),
    }
    return json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------
# Human-readable: LaTeX and Markdown
# --------------------------------------------------------------------------------------


def _isnan(v: Any) -> bool:
    try:
        return v is None or (isinstance(v, (float, np.floating)) and math.isnan(v))
    except TypeError:
        return False


def _fixed(digits: int) -> Callable[[Any], str | None]:
    def fmt(v: Any) -> str | None:
        if _isnan(v):
            return None
        v = float(v)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        text = f"{v:.{digits}f}"
        return f"{0.0:.{digits}f}" if float(text) == 0 else text  # no "-0.00"

    return fmt


def _int(v: Any) -> str | None:
    if _isnan(v):
        return None
    return str(int(round(float(v))))


def _p(v: Any) -> str | None:
    if _isnan(v):
        return None
    v = float(v)
    return "<0.001" if v < 0.001 else f"{v:.3f}"


def _pct(v: Any) -> str | None:
    if _isnan(v):
        return None
    return f"{100.0 * float(v):.1f}"


def _df(v: Any) -> str | None:
    if _isnan(v):
        return None
    v = float(v)
    return str(int(v)) if v.is_integer() else f"{v:.1f}"


def _text(v: Any) -> str | None:
    if _isnan(v):
        return None
    return str(v)


def _bool(v: Any) -> str | None:
    if _isnan(v):
        return None
    return "yes" if bool(v) else "no"


def _ci(lo_col: str, hi_col: str, digits: int = 2) -> Callable[[pd.Series], str | None]:
    fmt = _fixed(digits)

    def cell(row: pd.Series) -> str | None:
        lo, hi = fmt(row[lo_col]), fmt(row[hi_col])
        if lo is None or hi is None:
            return None
        return f"[{lo}, {hi}]"

    return cell


def _col(name: str, fmt: Callable[[Any], str | None]) -> Callable[[pd.Series], str | None]:
    return lambda row: fmt(row[name])


# (header, cell function, alignment) per table
Column = tuple[str, Callable[[pd.Series], str | None], str]
F2 = _fixed(2)
F3 = _fixed(3)

LAYOUTS: dict[str, list[Column]] = {
    "summary": [
        ("Dimension", _col("dimension", _text), "l"),
        ("System", _col("system", _text), "l"),
        ("Items", _col("n_items", _int), "r"),
        ("Judgments", _col("n_judgments", _int), "r"),
        ("Mean", _col("mean", F2), "r"),
        ("SD", _col("sd", F2), "r"),
        ("95% CI", _ci("ci_low", "ci_high"), "c"),
        ("Mean z", _col("mean_z", F2), "r"),
    ],
    "comparisons": [
        ("Variant", _col("variant", _text), "l"),
        ("Dimension", _col("dimension", _text), "l"),
        ("System A", _col("system_a", _text), "l"),
        ("System B", _col("system_b", _text), "l"),
        ("Design", _col("design", _text), "l"),
        ("n", _col("n", _int), "r"),
        ("Mean A", _col("mean_a", F2), "r"),
        ("Mean B", _col("mean_b", F2), "r"),
        ("t", _col("t", F2), "r"),
        ("df", _col("df", _df), "r"),
        ("p", _col("p_value", _p), "r"),
        ("p (Holm)", _col("p_holm", _p), "r"),
        ("p (Bonf.)", _col("p_bonferroni", _p), "r"),
        ("p (perm.)", _col("p_permutation", _p), "r"),
        ("d (pooled)", _col("cohens_d_pooled", F2), "r"),
        ("d_z", _col("cohens_dz", F2), "r"),
        ("g", _col("hedges_g", F2), "r"),
        ("95% CI of A - B", _ci("ci_low", "ci_high"), "c"),
    ],
    "agreement": [
        ("Dimension", _col("dimension", _text), "l"),
        ("Metric", _col("metric", _text), "l"),
        ("Value", _col("value", F3), "r"),
        ("95% CI", _ci("ci_low", "ci_high", 3), "c"),
        ("Items", _col("n_items", _int), "r"),
        ("Raters", _col("n_raters", _int), "r"),
        ("Level", _col("level", _text), "l"),
        ("Note", _col("note", _text), "l"),
    ],
    "winrates": [
        ("Dimension", _col("dimension", _text), "l"),
        ("System A", _col("system_a", _text), "l"),
        ("System B", _col("system_b", _text), "l"),
        ("n", _col("n", _int), "r"),
        ("A wins (%)", _col("share_a", _pct), "r"),
        ("Tie (%)", _col("share_tie", _pct), "r"),
        ("B wins (%)", _col("share_b", _pct), "r"),
        ("p (sign)", _col("p_sign", _p), "r"),
        ("p (Holm)", _col("p_sign_holm", _p), "r"),
        ("p (perm.)", _col("p_permutation", _p), "r"),
    ],
    "bradley_terry": [
        ("Dimension", _col("dimension", _text), "l"),
        ("System", _col("system", _text), "l"),
        ("Strength", _col("strength", F2), "r"),
        ("95% CI", _ci("ci_low", "ci_high"), "c"),
        ("log strength", _col("log_strength", F2), "r"),
        ("Comparisons", _col("n_comparisons", _int), "r"),
    ],
    "length_bias": [
        ("Dimension", _col("dimension", _text), "l"),
        ("Systems", _col("system", _text), "l"),
        ("n", _col("n", _int), "r"),
        ("Pearson r", _col("pearson_r", F2), "r"),
        ("p", _col("pearson_p", _p), "r"),
        ("Spearman rho", _col("spearman_rho", F2), "r"),
        ("p (rho)", _col("spearman_p", _p), "r"),
    ],
    "position_effects": [
        ("Dimension", _col("dimension", _text), "l"),
        ("Factor", _col("factor", _text), "l"),
        ("Estimate", _col("estimate", F3), "r"),
        ("SE", _col("se", F3), "r"),
        ("t", _col("statistic", F2), "r"),
        ("df", _col("df", _df), "r"),
        ("p", _col("p_value", _p), "r"),
        ("n", _col("n", _int), "r"),
    ],
    "annotator_quality": [
        ("Annotator", _col("annotator", _text), "l"),
        ("Judgments", _col("n_judgments", _int), "r"),
        ("Median s", _col("median_seconds", _fixed(1)), "r"),
        ("Straight-lining", _col("straightline_index", F2), "r"),
        ("Longest run", _col("longest_run", _int), "r"),
        ("SD", _col("sd", F2), "r"),
        ("Attention", _col("attention_pass_rate", F2), "r"),
        ("Flags", _col("reasons", _text), "l"),
        ("Excluded", _col("excluded", _bool), "l"),
    ],
    "exclusion_effect": [
        ("Dimension", _col("dimension", _text), "l"),
        ("System A", _col("system_a", _text), "l"),
        ("System B", _col("system_b", _text), "l"),
        ("Quantity", _col("quantity", _text), "l"),
        ("All annotators", _col("with_all", F3), "r"),
        ("Without excluded", _col("without_excluded", F3), "r"),
        ("Change", _col("change", F3), "r"),
    ],
}

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
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def markdown_escape(text: str) -> str:
    """Escape what Markdown would interpret in a table cell or list item: backslash, pipe,
    emphasis stars, backticks, HTML angle brackets and underscores at word edges (an
    underscore inside a word, as in ``sft_dpo``, is literal in GitHub Markdown)."""
    out = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    for ch in "*`<>":
        out = out.replace(ch, "\\" + ch)
    return _MD_UNDERSCORE.sub(r"\\_", out)


def _cells(name: str, frame: pd.DataFrame) -> tuple[list[Column], list[list[str | None]]]:
    layout = LAYOUTS[name]
    rows = [[cell(r) for _, cell, _ in layout] for _, r in frame.iterrows()]
    return layout, rows


def to_latex(name: str, frame: pd.DataFrame, *, label_prefix: str = "tab:") -> str:
    """A ``table`` environment with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
    layout, rows = _cells(name, frame)
    spec = "".join(align for _, _, align in layout)
    lines = [
        "% generated by evalsite; needs \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{latex_escape(TITLES.get(name, name)).replace(latex_escape('--'), '--')}}}",
        f"\\label{{{label_prefix}{name.replace('_', '-')}}}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(_latex_header(h) for h, _, _ in layout) + " \\\\",
        "\\midrule",
    ]
    if not rows:
        lines.append(f"\\multicolumn{{{len(layout)}}}{{c}}{{(no rows)}} \\\\")
    for cells in rows:
        lines.append(" & ".join(_latex_cell(c) for c in cells) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    return "\n".join(lines)


def _latex_header(text: str) -> str:
    special = {"d_z": "$d_z$", "t": "$t$", "p": "$p$", "n": "$n$", "g": "$g$"}
    if text in special:
        return special[text]
    if text.startswith("p ("):
        return "$p$ " + latex_escape(text[2:])
    return latex_escape(text).replace("A - B", "A $-$ B")


def _latex_cell(cell: str | None) -> str:
    if cell is None:
        return "--"
    if cell == "inf":
        return "$\\infty$"
    if cell == "-inf":
        return "$-\\infty$"
    if cell.startswith("<0.001"):
        return "$<$0.001"
    if _looks_numeric(cell):
        return cell.replace("-", "$-$")
    return latex_escape(cell)


def _looks_numeric(cell: str) -> bool:
    try:
        float(cell)
        return True
    except ValueError:
        return cell.startswith("[") and cell.endswith("]")


def to_markdown(name: str, frame: pd.DataFrame, *, heading: bool = True) -> str:
    """A GitHub-flavoured pipe table (with an optional ``###`` heading)."""
    layout, rows = _cells(name, frame)
    align = {"l": ":---", "r": "---:", "c": ":---:"}
    lines = []
    if heading:
        lines += [f"### {TITLES.get(name, name).replace('--', '–')}", ""]
    lines.append("| " + " | ".join(markdown_escape(h) for h, _, _ in layout) + " |")
    lines.append("| " + " | ".join(align[a] for _, _, a in layout) + " |")
    if not rows:
        lines.append("| " + " | ".join(["(no rows)"] + [""] * (len(layout) - 1)) + " |")
    for cells in rows:
        lines.append("| " + " | ".join("–" if c is None else markdown_escape(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
