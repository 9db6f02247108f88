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
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from . import formatting as fmt

__all__ = [
    "TITLES",
    "TableContext",
    "ReadableTable",
    "Cell",
    "title",
    "readable",
    "to_csv",
    "to_json",
    "to_latex",
    "to_markdown",
    "records",
    "latex_escape",
    "markdown_escape",
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
_PAIRWISE_TITLES = {
    "summary": "Expected score per system and dimension (win 1, tie 0.5, loss 0)",
    "length_bias": "Correlation of preferences with the response-length difference",
}
_FLAGGED_ONLY_TITLE = "What excluding the flagged annotators would change"


@dataclasses.dataclass(frozen=True)
class TableContext:
    """What the renderers need to know beyond a table's rows: the protocol, the study's
    dimensions (key, type, label), who was flagged / excluded, and the quality
    thresholds (for readable flag reasons)."""

    protocol: str = "rating"
    dimensions: tuple[Mapping[str, Any], ...] = ()
    flagged: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    thresholds: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_result(cls, result) -> TableContext:
        info = result.info
        opts = info.get("options", {})
        keys = ("min_median_seconds", "max_straightline", "min_sd", "min_attention_pass")
        return cls(
            protocol=result.protocol,
            dimensions=tuple(dict(d) for d in result.dimensions),
            flagged=tuple(info.get("flagged_annotators", ())),
            excluded=tuple(info.get("excluded_annotators", ())),
            thresholds={k: opts.get(k) for k in keys},
        )

    def dimension(self, key: Any) -> Mapping[str, Any] | None:
        for d in self.dimensions:
            if str(d.get("key")) == str(key):
                return d
        return None

    def label(self, key: Any) -> str:
        return fmt.dimension_label(self.dimension(key), str(key))

    def kind(self, key: Any) -> str | None:
        d = self.dimension(key)
        return None if d is None else d.get("type")


_DEFAULT = TableContext()


def title(name: str, context: TableContext | None = None) -> str:
    """The table's caption (LaTeX dashes as ``--``)."""
    ctx = context or _DEFAULT
    if ctx.protocol == "pairwise" and name in _PAIRWISE_TITLES:
        return _PAIRWISE_TITLES[name]
    if name == "exclusion_effect" and ctx.flagged and not ctx.excluded:
        return _FLAGGED_ONLY_TITLE
    return TITLES.get(name, name)


def _plain_title(name: str, context: TableContext | None = None) -> str:
    return title(name, context).replace("--", "–")


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
        writer.writerow([fmt.machine_text(v) for v in row])
    return out.getvalue()


def to_json(name: str, frame: pd.DataFrame, context: TableContext | None = None) -> str:
    """``{"table", "title", "columns", "rows"}`` as indented JSON text."""
    frame = _with_labels(frame, context)
    payload = {
        "table": name,
        "title": _plain_title(name, context),
        "columns": list(frame.columns),
        "rows": records(frame),
    }
    return json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


# --------------------------------------------------------------------------------------
# Readable cells
# --------------------------------------------------------------------------------------

CellFn = Callable[[pd.Series, TableContext], "str | None"]
WhyFn = Callable[[pd.Series, TableContext], "str | None"]


@dataclasses.dataclass(frozen=True)
class Column:
    header: str
    cell: CellFn
    align: str  # l, r, c
    why: WhyFn | None = None  # the reason a missing cell is missing (a footnote)


@dataclasses.dataclass(frozen=True)
class Cell:
    """A readable cell: ``text`` (None = missing, shown "–") and the footnote marker
    explaining a missing value (None when there is none)."""

    text: str | None
    marker: str | None = None

    @property
    def missing(self) -> bool:
        return self.text is None

    def plain(self) -> str:
        """The cell as plain text ("–ᵃ" for a missing value with footnote a)."""
        if self.text is not None:
            return self.text
        return "–" + (_superscript(self.marker) if self.marker else "")


@dataclasses.dataclass(frozen=True)
class ReadableTable:
    name: str
    title: str  # plain text (en dash, not "--")
    headers: list[str]
    align: list[str]
    rows: list[list[Cell]]
    notes: list[tuple[str, str]]  # (marker, reason) in marker order
    remarks: list[str] = dataclasses.field(default_factory=list)  # notes on the whole table


_SUPERSCRIPT = dict(zip("abcdefghijklmnoprstuvwxyz", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ", strict=True))


def _superscript(marker: str) -> str:
    return "".join(_SUPERSCRIPT.get(ch, ch) for ch in marker)


def _marker(i: int) -> str:
    letters = "abcdefghijklmnoprstuvwxyz"
    return letters[i] if i < len(letters) else f"{letters[i % len(letters)]}{i // len(letters)}"


def _col(name: str, f: Callable[[Any], str | None]) -> CellFn:
    return lambda row, ctx: f(row.get(name))


def _dim(row: pd.Series, ctx: TableContext) -> str | None:
    return None if fmt.is_missing(row.get("dimension")) else ctx.label(row["dimension"])


def _text(name: str, words: Mapping[str, str] | None = None) -> CellFn:
    def cell(row: pd.Series, ctx: TableContext) -> str | None:
        v = row.get(name)
        if fmt.is_missing(v):
            return None
        return (words or {}).get(str(v), str(v))

    return cell


def _f(digits: int) -> Callable[[Any], str | None]:
    return lambda v: fmt.fixed(v, digits)


def _ci(lo_col: str, hi_col: str, digits: int = 2) -> CellFn:
    def cell(row: pd.Series, ctx: TableContext) -> str | None:
        lo, hi = fmt.fixed(row.get(lo_col), digits), fmt.fixed(row.get(hi_col), digits)
        if lo is None or hi is None:
            return None
        return f"[{lo}, {hi}]"

    return cell


def _because(text: str) -> WhyFn:
    return lambda row, ctx: text


# words for values that are keys in the machine-readable tables
METRICS = {
    "krippendorff_alpha": "Krippendorff's α",
    "fleiss_kappa": "Fleiss' κ",
}
QUANTITIES = {
    "krippendorff_alpha": "Krippendorff's α",
    "fleiss_kappa": "Fleiss' κ",
    "mean": "mean",
    "mean_diff": "mean difference (A − B)",
    "cohens_d_pooled": "Cohen's d (pooled)",
    "p_value": "p",
    "p_holm": "p (Holm)",
    "share_a": "A wins (share)",
    "share_b": "B wins (share)",
    "p_sign": "p (sign test)",
    "p_sign_holm": "p (sign test, Holm)",
}
FACTORS = {"position": "position in batch", "block": "block order", "side": "side (A shown first)"}
DESIGNS = {"paired": "paired", "welch": "Welch"}
VARIANTS = {"raw": "raw", "z": "z-scored"}
FLAG_WORDS = {
    "fast": "too fast",
    "straightline": "straight-lining",
    "low_sd": "no rating variation",
    "attention": "failed attention checks",
}


def flag_reasons(reasons: Any) -> list[str]:
    """Readable words for an annotator's ``reasons`` ("fast,low_sd")."""
    if fmt.is_missing(reasons) or not str(reasons):
        return []
    return [FLAG_WORDS.get(r, r) for r in str(reasons).split(",") if r]


def flag_explanations(row: Mapping[str, Any], thresholds: Mapping[str, Any]) -> list[str]:
    """Each flag of an annotator-quality row with the figure and threshold behind it."""
    out = []
    for reason in str(row.get("reasons") or "").split(","):
        if reason == "fast":
            out.append(f"too fast (median {fmt.fixed(row.get('median_seconds'), 1)} s per "
                       f"item < {thresholds.get('min_median_seconds')} s)")
        elif reason == "straightline":
            out.append(f"straight-lining (index {fmt.fixed(row.get('straightline_index'), 2)}"
                       f" > {thresholds.get('max_straightline')})")
        elif reason == "low_sd":
            out.append(f"no rating variation (SD {fmt.fixed(row.get('sd'), 2)} <= "
                       f"{thresholds.get('min_sd')})")
        elif reason == "attention":
            out.append(f"failed attention checks (pass rate "
                       f"{fmt.fixed(row.get('attention_pass_rate'), 2)} < "
                       f"{thresholds.get('min_attention_pass')})")
        elif reason:
            out.append(reason)
    return out


def _reasons(row: pd.Series, ctx: TableContext) -> str | None:
    words = flag_reasons(row.get("reasons"))
    return ", ".join(words) if words else ""


def _agreement_value_why(row: pd.Series, ctx: TableContext) -> str | None:
    note = row.get("note")
    return str(note) if not fmt.is_missing(note) and str(note) else "not computable from these judgments"


def _agreement_ci_why(row: pd.Series, ctx: TableContext) -> str | None:
    if str(row.get("metric", "")).startswith("ICC") and fmt.is_missing(row.get("value")):
        return _agreement_value_why(row, ctx)
    if str(row.get("metric", "")).startswith("ICC"):
        return "the F-based interval is not defined for these mean squares"
    return "no confidence interval is computed for Krippendorff's α or Fleiss' κ"


def _agreement_note(row: pd.Series, ctx: TableContext) -> str | None:
    # the reason for a missing value is its footnote; the note column describes values
    if fmt.is_missing(row.get("value")):
        return ""
    note = row.get("note")
    return "" if fmt.is_missing(note) else str(note)


def _metric(row: pd.Series, ctx: TableContext) -> str | None:
    return METRICS.get(str(row.get("metric")), str(row.get("metric")))


def _side_why(row: pd.Series, ctx: TableContext) -> str | None:
    if row.get("factor") == "side":
        return "side bias is an exact binomial test of a share: no SE, t statistic or df"
    return None


def _summary_layout(ctx: TableContext) -> list[Column]:
    mean_header = "Expected score" if ctx.protocol == "pairwise" else "Mean"
    cols = [
        Column("Dimension", _dim, "l"),
        Column("System", _text("system"), "l"),
        Column("Items", _col("n_items", fmt.integer), "r"),
        Column("Judgments", _col("n_judgments", fmt.integer), "r"),
        Column(mean_header, _col("mean", _f(2)), "r"),
        Column("SD", _col("sd", _f(2)), "r",
               _because("fewer than 2 items: no SD or interval")),
        Column("95% CI", _ci("ci_low", "ci_high"), "c",
               _because("fewer than 2 items: no SD or interval")),
    ]
    if ctx.protocol != "pairwise":
        cols.append(Column("Mean z", _col("mean_z", _f(2)), "r",
                           _because("no z-scores: every annotator gave this dimension one "
                                    "constant rating")))
    return cols


def _exclusion_layout(ctx: TableContext) -> list[Column]:
    without = "Without flagged" if ctx.flagged and not ctx.excluded else "Without excluded"
    return [
        Column("Dimension", _dim, "l"),
        Column("System A", _text("system_a"), "l"),
        Column("System B", _text("system_b"), "l"),
        Column("Quantity", _text("quantity", QUANTITIES), "l"),
        Column("All annotators", _col("with_all", _f(3)), "r",
               _because("not computable with all annotators")),
        Column(without, _col("without_excluded", _f(3)), "r",
               _because("not computable without these annotators")),
        Column("Change", _col("change", _f(3)), "r",
               _because("one of the two values is missing")),
    ]


def layout(name: str, context: TableContext | None = None) -> list[Column]:
    """The readable columns of a table."""
    ctx = context or _DEFAULT
    if name == "summary":
        return _summary_layout(ctx)
    if name == "exclusion_effect":
        return _exclusion_layout(ctx)
    return LAYOUTS[name]


LAYOUTS: dict[str, list[Column]] = {
    "comparisons": [
        Column("Variant", _text("variant", VARIANTS), "l"),
        Column("Dimension", _dim, "l"),
        Column("System A", _text("system_a"), "l"),
        Column("System B", _text("system_b"), "l"),
        Column("Design", _text("design", DESIGNS), "l"),
        Column("n", _col("n", fmt.integer), "r"),
        Column("Mean A", _col("mean_a", _f(2)), "r"),
        Column("Mean B", _col("mean_b", _f(2)), "r"),
        Column("t", _col("t", _f(2)), "r", _because("no t statistic: fewer than 2 items or no variation")),
        Column("df", _col("df", fmt.df_text), "r", _because("no t statistic: fewer than 2 items or no variation")),
        Column("p", _col("p_value", fmt.p_value), "r", _because("no t statistic: fewer than 2 items or no variation")),
        Column("p (Holm)", _col("p_holm", fmt.p_value), "r", _because("no t statistic: fewer than 2 items or no variation")),
        Column("p (Bonf.)", _col("p_bonferroni", fmt.p_value), "r", _because("no t statistic: fewer than 2 items or no variation")),
        Column("p (perm.)", _col("p_permutation", fmt.p_value), "r",
               _because("no permutation test: fewer than 2 items per system")),
        Column("d (pooled)", _col("cohens_d_pooled", _f(2)), "r",
               _because("no effect size: fewer than 2 items or no variation")),
        Column("d_z", _col("cohens_dz", _f(2)), "r",
               lambda row, ctx: ("d_z is defined for paired designs only" if row.get("design") == "welch"
                                 else "no effect size: fewer than 2 items or no variation")),
        Column("g", _col("hedges_g", _f(2)), "r",
               _because("no effect size: fewer than 2 items or no variation")),
        Column("95% CI of A - B", _ci("ci_low", "ci_high"), "c",
               _because("no bootstrap interval: fewer than 2 items per system")),
    ],
    "agreement": [
        Column("Dimension", _dim, "l"),
        Column("Metric", _metric, "l"),
        Column("Value", _col("value", _f(3)), "r", _agreement_value_why),
        Column("95% CI", _ci("ci_low", "ci_high", 3), "c", _agreement_ci_why),
        Column("Items", _col("n_items", fmt.integer), "r"),
        Column("Raters", _col("n_raters", fmt.integer), "r"),
        Column("Level", _text("level"), "l"),
        Column("Note", _agreement_note, "l"),
    ],
    "winrates": [
        Column("Dimension", _dim, "l"),
        Column("System A", _text("system_a"), "l"),
        Column("System B", _text("system_b"), "l"),
        Column("n", _col("n", fmt.integer), "r"),
        Column("A wins (%)", _col("share_a", fmt.percent), "r"),
        Column("Tie (%)", _col("share_tie", fmt.percent), "r"),
        Column("B wins (%)", _col("share_b", fmt.percent), "r"),
        Column("p (sign)", _col("p_sign", fmt.p_value), "r", _because("every judgment was a tie")),
        Column("p (Holm)", _col("p_sign_holm", fmt.p_value), "r", _because("every judgment was a tie")),
        Column("p (perm.)", _col("p_permutation", fmt.p_value), "r"),
    ],
    "bradley_terry": [
        Column("Dimension", _dim, "l"),
        Column("System", _text("system"), "l"),
        Column("Strength", _col("strength", _f(2)), "r"),
        Column("95% CI", _ci("ci_low", "ci_high"), "c"),
        Column("log strength", _col("log_strength", _f(2)), "r"),
        Column("Comparisons", _col("n_comparisons", fmt.integer), "r"),
    ],
    "length_bias": [
        Column("Dimension", _dim, "l"),
        Column("Systems", _text("system"), "l"),
        Column("n", _col("n", fmt.integer), "r"),
        Column("Pearson r", _col("pearson_r", _f(2)), "r", _because("constant ratings or lengths")),
        Column("p", _col("pearson_p", fmt.p_value), "r", _because("constant ratings or lengths")),
        Column("Spearman ρ", _col("spearman_rho", _f(2)), "r", _because("constant ratings or lengths")),
        Column("p (ρ)", _col("spearman_p", fmt.p_value), "r", _because("constant ratings or lengths")),
    ],
    "position_effects": [
        Column("Dimension", _dim, "l"),
        Column("Factor", _text("factor", FACTORS), "l"),
        Column("Estimate", _col("estimate", _f(3)), "r"),
        Column("SE", _col("se", _f(3)), "r", _side_why),
        Column("t", _col("statistic", _f(2)), "r", _side_why),
        Column("df", _col("df", fmt.df_text), "r", _side_why),
        Column("p", _col("p_value", fmt.p_value), "r"),
        Column("n", _col("n", fmt.integer), "r"),
    ],
    "annotator_quality": [
        Column("Annotator", _text("annotator"), "l"),
        Column("Judgments", _col("n_judgments", fmt.integer), "r"),
        Column("Median s", _col("median_seconds", _f(1)), "r", _because("no times recorded")),
        Column("Straight-lining", _col("straightline_index", _f(2)), "r",
               _because("too few judgments for this check")),
        Column("Longest run", _col("longest_run", fmt.integer), "r"),
        Column("SD", _col("sd", _f(2)), "r", _because("too few judgments for this check")),
        Column("Attention", _col("attention_pass_rate", _f(2)), "r",
               _because("no attention checks answered")),
        Column("Flagged", _col("flagged", fmt.yes_no), "l"),
        Column("Reasons", _reasons, "l"),
        Column("Excluded", _col("excluded", fmt.yes_no), "l"),
    ],
}


def readable(name: str, frame: pd.DataFrame, context: TableContext | None = None) -> ReadableTable:
    """The table as readable cells, with a footnote for every missing value that has a
    reason (the same reason gets the same marker throughout the table)."""
    ctx = context or _DEFAULT
    cols = layout(name, ctx)
    notes: dict[str, str] = {}
    rows: list[list[Cell]] = []
    for _, r in frame.iterrows():
        cells = []
        for col in cols:
            text = col.cell(r, ctx)
            marker = None
            if text is None and col.why is not None:
                why = col.why(r, ctx)
                if why:
                    marker = notes.setdefault(why, _marker(len(notes)))
            cells.append(Cell(text, marker))
        rows.append(cells)
    return ReadableTable(
        name=name,
        title=_plain_title(name, ctx),
        headers=[c.header for c in cols],
        align=[c.align for c in cols],
        rows=rows,
        notes=[(m, why) for why, m in notes.items()],
        remarks=_remarks(name, frame, ctx),
    )


def _remarks(name: str, frame: pd.DataFrame, ctx: TableContext) -> list[str]:
    """Notes on the whole table: what a checkbox dimension's mean is."""
    if name not in ("summary", "comparisons", "exclusion_effect") or "dimension" not in frame:
        return []
    boxes = [k for k in dict.fromkeys(frame["dimension"]) if ctx.kind(k) == "checkbox"]
    if not boxes or ctx.protocol != "rating":
        return []
    labels = fmt.join_words(ctx.label(k) for k in boxes)
    what = "dimension" if len(boxes) == 1 else "dimensions"
    return [f"Checkbox {what} {labels}: answers count Yes = 1, No = 0, so a mean is the "
            "share of Yes answers."]


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


def to_latex(name: str, frame: pd.DataFrame, *, context: TableContext | None = None,
             label_prefix: str = "tab:") -> str:
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
    special = {"d_z": "$d_z$", "t": "$t$", "p": "$p$", "n": "$n$", "g": "$g$",
               "Pearson r": "Pearson $r$", "Spearman ρ": "Spearman $\\rho$", "p (ρ)": "$p$ ($\\rho$)"}
    if text in special:
        return special[text]
    if text.startswith("p ("):
        return "$p$ " + latex_escape(text[2:])
    return latex_escape(text).replace("A - B", "A $-$ B")


def _latex_cell(cell: Cell) -> str:
    if cell.text is None:
        return "--" + (f"\\textsuperscript{{{cell.marker}}}" if cell.marker else "")
    text = cell.text
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


def to_markdown(name: str, frame: pd.DataFrame, *, context: TableContext | None = None,
                heading: bool = True) -> str:
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
        lines += [f"- {_superscript(m)} {markdown_escape(why)}." for m, why in table.notes]
        lines += [f"- {markdown_escape(r)}" for r in table.remarks]
    return "\n".join(lines) + "\n"


def markdown_list(values: Sequence[Any]) -> str:
    return ", ".join(markdown_escape(v) for v in values)
