"""The readable layer of the result tables: per table, its columns as words (dimension
labels, metrics and quantities in words, Yes / No) and a footnote for every missing value
("–") that the table can explain. What Markdown, LaTeX and the researcher console show
(``analysis.tables`` renders it). Pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from core.vocabulary import DimensionType, Protocol

from . import formatting as fmt
from .mixed import MODEL_SHORT
from .table_context import DEFAULT_CONTEXT, TableContext, plain_title

__all__ = [
    "Cell",
    "Column",
    "ReadableTable",
    "flag_explanations",
    "flag_reasons",
    "layout",
    "readable",
    "superscript",
]

CellFn = Callable[[pd.Series, TableContext], "str | None"]
WhyFn = Callable[[pd.Series, TableContext], "str | None"]


@dataclasses.dataclass(frozen=True)
class Column:
    header: str
    cell: CellFn
    align: str  # l, r, c
    why: WhyFn | None = None  # the reason a missing cell is missing (a footnote)
    mark: WhyFn | None = None  # a footnote on a present value (e.g. clipped to the scale)


@dataclasses.dataclass(frozen=True)
class Cell:
    """A readable cell: ``text`` (None = missing, shown "–") and the marker of its
    footnote: why a value is missing, or what to know about a value shown (None: none)."""

    text: str | None
    marker: str | None = None

    @property
    def missing(self) -> bool:
        return self.text is None

    def plain(self) -> str:
        """The cell as plain text ("–ᵃ" for a missing value with footnote a)."""
        mark = superscript(self.marker) if self.marker else ""
        return ("–" if self.text is None else self.text) + mark


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


def superscript(marker: str) -> str:
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


def _clipped(row: pd.Series, ctx: TableContext) -> tuple[float, float, bool] | None:
    """A mean's interval limited to the ends of its scale, and whether that changed it
    (a t-interval of 2 item means on a 0-100 slider can reach -154)."""
    lo, hi = row.get("ci_low"), row.get("ci_high")
    if fmt.is_missing(lo) or fmt.is_missing(hi):
        return None
    bounds = ctx.scale(row.get("dimension"))
    if bounds is None:
        return float(lo), float(hi), False
    a, b = bounds
    lo_c, hi_c = min(max(float(lo), a), b), min(max(float(hi), a), b)
    return lo_c, hi_c, (lo_c, hi_c) != (float(lo), float(hi))


def _ci_on_scale(row: pd.Series, ctx: TableContext) -> str | None:
    got = _clipped(row, ctx)
    if got is None:
        return None
    return f"[{fmt.fixed(got[0], 2)}, {fmt.fixed(got[1], 2)}]"


def _clipped_why(row: pd.Series, ctx: TableContext) -> str | None:
    got = _clipped(row, ctx)
    if got is None or not got[2]:
        return None
    a, b = ctx.scale(row.get("dimension")) or (0.0, 0.0)
    return (
        f"t-interval clipped to the scale ({fmt.fixed(a, 0)}–{fmt.fixed(b, 0)}); the CSV "
        "and JSON files keep its unclipped limits"
    )


def _because(text: str) -> WhyFn:
    return lambda row, ctx: text


# words for values that are keys in the machine-readable tables
METRICS = {
    "krippendorff_alpha": "Krippendorff's α",
    "fleiss_kappa": "Fleiss' κ",
    "free_marginal_kappa": "Free-marginal κ (Randolph)",
    "fleiss_kappa_as_shown": "Fleiss' κ (as shown)",
    "free_marginal_kappa_as_shown": "Free-marginal κ (as shown)",
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
            out.append(
                f"too fast (median {fmt.fixed(row.get('median_seconds'), 1)} s per "
                f"item < {thresholds.get('min_median_seconds')} s)"
            )
        elif reason == "straightline":
            out.append(
                f"straight-lining (index {fmt.fixed(row.get('straightline_index'), 2)}"
                f" > {thresholds.get('max_straightline')})"
            )
        elif reason == "low_sd":
            out.append(
                f"no rating variation (SD {fmt.fixed(row.get('sd'), 2)} <= "
                f"{thresholds.get('min_sd')})"
            )
        elif reason == "attention":
            out.append(
                f"failed attention checks (pass rate "
                f"{fmt.fixed(row.get('attention_pass_rate'), 2)} < "
                f"{thresholds.get('min_attention_pass')})"
            )
        elif reason:
            out.append(reason)
    return out


def _reasons(row: pd.Series, ctx: TableContext) -> str | None:
    words = flag_reasons(row.get("reasons"))
    return ", ".join(words) if words else ""


def _agreement_value_why(row: pd.Series, ctx: TableContext) -> str | None:
    note = row.get("note")
    return (
        str(note)
        if not fmt.is_missing(note) and str(note)
        else "not computable from these judgments"
    )


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


def _exact_fit_why(row: pd.Series, ctx: TableContext) -> str | None:
    se, t = row.get("se"), row.get("statistic")
    if not fmt.is_missing(se) and float(se) == 0.0 and not fmt.is_missing(t):
        return "exact fit: the ratings lie on the line, no residual variation (SE 0, t infinite)"
    return None


def _side_why(row: pd.Series, ctx: TableContext) -> str | None:
    if row.get("factor") == "side":
        return "side bias is an exact binomial test of a share: no SE, t statistic or df"
    return None


def _summary_layout(ctx: TableContext) -> list[Column]:
    mean_header = "Expected score" if ctx.protocol == Protocol.PAIRWISE else "Mean"
    cols = [
        Column("Dimension", _dim, "l"),
        Column("System", _text("system"), "l"),
        Column("Items", _col("n_items", fmt.integer), "r"),
        Column("Judgments", _col("n_judgments", fmt.integer), "r"),
        Column(mean_header, _col("mean", _f(2)), "r"),
        Column("SD", _col("sd", _f(2)), "r", _because("fewer than 2 items: no SD or interval")),
        Column(
            "{conf} CI",
            _ci_on_scale,
            "c",
            _because("fewer than 2 items: no SD or interval"),
            _clipped_why,
        ),
    ]
    if ctx.protocol != Protocol.PAIRWISE:
        cols.append(
            Column(
                "Mean z",
                _col("mean_z", _f(2)),
                "r",
                _because("no z-scores: every annotator gave this dimension one constant rating"),
            )
        )
    return cols


def _exclusion_layout(ctx: TableContext) -> list[Column]:
    without = "Without flagged" if ctx.flagged and not ctx.excluded else "Without excluded"
    return [
        Column("Dimension", _dim, "l"),
        Column("System A", _text("system_a"), "l"),
        Column("System B", _text("system_b"), "l"),
        Column("Quantity", _text("quantity", QUANTITIES), "l"),
        Column(
            "All annotators",
            _col("with_all", _f(3)),
            "r",
            _because("not computable with all annotators"),
        ),
        Column(
            without,
            _col("without_excluded", _f(3)),
            "r",
            _because("not computable without these annotators"),
        ),
        Column("Change", _col("change", _f(3)), "r", _because("one of the two values is missing")),
    ]


def layout(name: str, context: TableContext | None = None) -> list[Column]:
    """The readable columns of a table."""
    ctx = context or DEFAULT_CONTEXT
    if name == "summary":
        cols = _summary_layout(ctx)
    elif name == "exclusion_effect":
        cols = _exclusion_layout(ctx)
    else:
        cols = LAYOUTS[name]
    # an interval's header names the level the analysis used (the `confidence` option)
    conf = fmt.confidence_level(ctx.confidence)
    return [dataclasses.replace(c, header=c.header.replace("{conf}", conf)) for c in cols]


_NOT_FITTED = "the model could not be fitted"


def _paired_d_why(row: pd.Series, ctx: TableContext) -> str:
    if row.get("design") == "welch":
        return "d_z, d_av and d_rm are defined for paired designs only"
    return "no effect size: fewer than 2 items or no variation"


def _mixed_df_why(row: pd.Series, ctx: TableContext) -> str:
    if fmt.is_missing(row.get("estimate")):
        return _NOT_FITTED
    return "z test: normal reference, no degrees of freedom"


def _mixed_sd_why(row: pd.Series, ctx: TableContext) -> str:
    if ctx.kind(row.get("dimension")) == DimensionType.SLIDER:
        return _NOT_FITTED
    return "no random effects in this model"


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
        Column(
            "t",
            _col("t", _f(2)),
            "r",
            _because("no t statistic: fewer than 2 items or no variation"),
        ),
        Column(
            "df",
            _col("df", fmt.df_text),
            "r",
            _because("no t statistic: fewer than 2 items or no variation"),
        ),
        Column(
            "p",
            _col("p_value", fmt.p_value),
            "r",
            _because("no t statistic: fewer than 2 items or no variation"),
        ),
        Column(
            "p (Holm)",
            _col("p_holm", fmt.p_value),
            "r",
            _because("no t statistic: fewer than 2 items or no variation"),
        ),
        Column(
            "p (Bonf.)",
            _col("p_bonferroni", fmt.p_value),
            "r",
            _because("no t statistic: fewer than 2 items or no variation"),
        ),
        Column(
            "p (perm.)",
            _col("p_permutation", fmt.p_value),
            "r",
            _because("no permutation test: fewer than 2 items per system"),
        ),
        Column(
            "d (pooled)",
            _col("cohens_d_pooled", _f(2)),
            "r",
            _because("no effect size: fewer than 2 items or no variation"),
        ),
        Column(
            "d_z",
            _col("cohens_dz", _f(2)),
            "r",
            _paired_d_why,
        ),
        Column("d_av", _col("cohens_d_av", _f(2)), "r", _paired_d_why),
        Column("d_rm", _col("cohens_d_rm", _f(2)), "r", _paired_d_why),
        Column(
            "g",
            _col("hedges_g", _f(2)),
            "r",
            _because("no effect size: fewer than 2 items or no variation"),
        ),
        Column(
            "{conf} CI of A - B",
            _ci("ci_low", "ci_high"),
            "c",
            _because("no bootstrap interval: fewer than 2 items per system"),
        ),
    ],
    "mixed_models": [
        Column("Dimension", _dim, "l"),
        Column("System A", _text("system_a"), "l"),
        Column("System B", _text("system_b"), "l"),
        Column("Model", _text("model", MODEL_SHORT), "l"),
        Column("Estimate", _col("estimate", _f(2)), "r", _because(_NOT_FITTED)),
        Column("SE", _col("se", _f(2)), "r", _because(_NOT_FITTED)),
        Column("t / z", _col("statistic", _f(2)), "r", _because(_NOT_FITTED)),
        Column("df", _col("df", fmt.df_text), "r", _mixed_df_why),
        Column("p", _col("p_value", fmt.p_value), "r", _because(_NOT_FITTED)),
        Column("p (Holm)", _col("p_holm", fmt.p_value), "r", _because(_NOT_FITTED)),
        Column("p (Bonf.)", _col("p_bonferroni", fmt.p_value), "r", _because(_NOT_FITTED)),
        Column("{conf} CI of A - B", _ci("ci_low", "ci_high"), "c", _because(_NOT_FITTED)),
        Column("Scale", _text("scale"), "l"),
        Column("SD annotator", _col("sd_annotator", _f(2)), "r", _mixed_sd_why),
        Column("SD context", _col("sd_context", _f(2)), "r", _mixed_sd_why),
        Column("SD item", _col("sd_item", _f(2)), "r", _mixed_sd_why),
        Column("SD residual", _col("sd_residual", _f(2)), "r", _mixed_sd_why),
        Column("Note", _text("note"), "l"),
    ],
    "agreement": [
        Column("Dimension", _dim, "l"),
        Column("Metric", _metric, "l"),
        Column("Value", _col("value", _f(3)), "r", _agreement_value_why),
        Column("{conf} CI", _ci("ci_low", "ci_high", 3), "c", _agreement_ci_why),
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
        Column(
            "p (Holm)", _col("p_sign_holm", fmt.p_value), "r", _because("every judgment was a tie")
        ),
        Column("p (perm.)", _col("p_permutation", fmt.p_value), "r"),
    ],
    "bradley_terry": [
        Column("Dimension", _dim, "l"),
        Column("System", _text("system"), "l"),
        Column("Strength", _col("strength", _f(2)), "r"),
        Column("{conf} CI", _ci("ci_low", "ci_high"), "c"),
        Column("log strength", _col("log_strength", _f(2)), "r"),
        Column("SE (log)", _col("se", _f(2)), "r"),
        Column("Elo", _col("elo", _f(0)), "r"),
        Column("Comparisons", _col("n_comparisons", fmt.integer), "r"),
    ],
    "length_bias": [
        Column("Dimension", _dim, "l"),
        Column("Systems", _text("system"), "l"),
        Column("n", _col("n", fmt.integer), "r"),
        Column("Pearson r", _col("pearson_r", _f(2)), "r", _because("constant ratings or lengths")),
        Column("p", _col("pearson_p", fmt.p_value), "r", _because("constant ratings or lengths")),
        Column(
            "Spearman ρ", _col("spearman_rho", _f(2)), "r", _because("constant ratings or lengths")
        ),
        Column(
            "p (ρ)", _col("spearman_p", fmt.p_value), "r", _because("constant ratings or lengths")
        ),
    ],
    "position_effects": [
        Column("Dimension", _dim, "l"),
        Column("Factor", _text("factor", FACTORS), "l"),
        Column("Estimate", _col("estimate", _f(3)), "r"),
        Column("SE", _col("se", _f(3)), "r", _side_why, _exact_fit_why),
        Column("t", _col("statistic", _f(2)), "r", _side_why, _exact_fit_why),
        Column("df", _col("df", fmt.df_text), "r", _side_why),
        Column("p", _col("p_value", fmt.p_value), "r"),
        Column("n", _col("n", fmt.integer), "r"),
    ],
    "annotator_quality": [
        Column("Annotator", _text("annotator"), "l"),
        Column("Judgments", _col("n_judgments", fmt.integer), "r"),
        Column("Median s", _col("median_seconds", _f(1)), "r", _because("no times recorded")),
        Column(
            "Straight-lining",
            _col("straightline_index", _f(2)),
            "r",
            _because("too few judgments for this check"),
        ),
        Column("Longest run", _col("longest_run", fmt.integer), "r"),
        Column("SD", _col("sd", _f(2)), "r", _because("too few judgments for this check")),
        Column(
            "Attention",
            _col("attention_pass_rate", _f(2)),
            "r",
            _because("no attention checks answered"),
        ),
        Column("Flagged", _col("flagged", fmt.yes_no), "l"),
        Column("Reasons", _reasons, "l"),
        Column("Excluded", _col("excluded", fmt.yes_no), "l"),
    ],
}


def readable(name: str, frame: pd.DataFrame, context: TableContext | None = None) -> ReadableTable:
    """The table as readable cells, with a footnote for every missing value that has a
    reason (the same reason gets the same marker throughout the table)."""
    ctx = context or DEFAULT_CONTEXT
    cols = layout(name, ctx)
    notes: dict[str, str] = {}
    rows: list[list[Cell]] = []
    for _, r in frame.iterrows():
        cells = []
        for col in cols:
            text = col.cell(r, ctx)
            marker = None
            explain = col.why if text is None else col.mark
            if explain is not None:
                why = explain(r, ctx)
                if why:
                    marker = notes.setdefault(why, _marker(len(notes)))
            cells.append(Cell(text, marker))
        rows.append(cells)
    return ReadableTable(
        name=name,
        title=plain_title(name, ctx),
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
    boxes = [k for k in dict.fromkeys(frame["dimension"]) if ctx.kind(k) == DimensionType.CHECKBOX]
    if not boxes or ctx.protocol != Protocol.RATING:
        return []
    labels = fmt.join_words(ctx.label(k) for k in boxes)
    what = "dimension" if len(boxes) == 1 else "dimensions"
    return [
        f"Checkbox {what} {labels}: answers count Yes = 1, No = 0, so a mean is the "
        "share of Yes answers."
    ]
