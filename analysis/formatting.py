"""How the analysis writes numbers and words: the one place for these rules.

Every writer of the results bundle (CSV, JSON, LaTeX, Markdown, report.md) and the
researcher console formats through these functions, so a number reads the same everywhere
and the same on every machine.

Numbers
    * A value within ``ZERO_TOLERANCE`` (1e-12) of zero is written 0: floating-point noise
      such as a correlation of -1.1e-17 (what one BLAS kernel computes for an exact 0) is
      never printed, and neither is -0.
    * Before any rounding a value is first rounded to ``STABLE_DIGITS`` (10) significant
      digits. That is far below the precision of any statistic here and far above the
      ~1e-15 relative noise that differs between BLAS kernels and CPUs, so the last printed
      digit does not depend on the machine (0.12499999999999997 and 0.12500000000000003
      both print as 0.13).
    * Rounding is half away from zero (0.125 -> 0.13, 18.75 % -> 18.8 %), as papers round.
    * Machine-readable files (CSV, JSON): ``MACHINE_DIGITS`` (6) significant digits;
      NaN is an empty CSV cell / JSON null, infinities are "inf" / "-inf".
    * Tables meant for reading (Markdown, LaTeX, report.md, console): fixed decimals per
      kind of column -- means, SDs, test statistics and effect sizes 2 decimals, agreement
      coefficients, position slopes and exclusion effects 3, p-values 3 decimals or
      "<0.001", shares as percentages with 1 decimal; a missing value is "–" (with a
      footnote saying why where the table knows).

Words
    * Booleans read Yes / No in readable output (CSV keeps true / false, JSON booleans).
    * Counts agree with their nouns: :func:`plural` ("1 annotator", "3 annotators").
    * Dimensions are shown by their label (the study spec's ``label``), falling back to the
      key: :func:`dimension_label`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np

__all__ = [
    "ZERO_TOLERANCE",
    "STABLE_DIGITS",
    "MACHINE_DIGITS",
    "P_FLOOR",
    "is_missing",
    "clean",
    "machine_value",
    "machine_text",
    "fixed",
    "p_value",
    "percent",
    "confidence_level",
    "integer",
    "df_text",
    "yes_no",
    "plural",
    "join_words",
    "dimension_label",
]

ZERO_TOLERANCE = 1e-12
STABLE_DIGITS = 10
MACHINE_DIGITS = 6
P_FLOOR = 0.001  # p-values below this read "<0.001"


def is_missing(value: Any) -> bool:
    """None, NaN (float or numpy), pandas NA / NaT."""
    if value is None:
        return True
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return True
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    if isinstance(value, float | np.floating):
        return math.isnan(float(value))
    return False


def clean(value: Any) -> float:
    """A float with noise removed: 0 within ZERO_TOLERANCE (never -0), otherwise rounded
    to STABLE_DIGITS significant digits. NaN and infinities pass through."""
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        return v
    if abs(v) < ZERO_TOLERANCE:
        return 0.0
    return float(f"{v:.{STABLE_DIGITS}g}")


def _decimal(v: float) -> Decimal:
    # repr of the cleaned float is its shortest round-trip decimal (at most 10 digits)
    return Decimal(repr(clean(v)))


def _round_sig(v: float, digits: int) -> float:
    d = _decimal(v)
    if d == 0:
        return 0.0
    q = Decimal(1).scaleb(d.adjusted() - digits + 1)
    out = float(d.quantize(q, rounding=ROUND_HALF_UP))
    return 0.0 if out == 0 else out


def machine_value(value: Any) -> Any:
    """A JSON-ready plain value: floats to MACHINE_DIGITS significant digits, 0 for noise,
    NaN -> None, infinities -> "inf" / "-inf"; ints and bools unchanged; numpy scalars
    unwrapped; other objects as text (lists and dicts kept)."""
    if isinstance(value, np.generic):
        value = value.item()
    if is_missing(value):
        return None
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return _round_sig(value, MACHINE_DIGITS)
    if isinstance(value, list | dict):
        return value
    return str(value)


def machine_text(value: Any) -> str:
    """A CSV cell: as machine_value, floats written with %g (no trailing zeros), NaN as ""."""
    v = machine_value(value)
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.{MACHINE_DIGITS}g}"
    return str(v)


def fixed(value: Any, digits: int = 2) -> str | None:
    """Fixed decimals, rounded half away from zero; None for a missing value; no "-0.00"."""
    if is_missing(value):
        return None
    v = float(value)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    d = _decimal(v).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    if d == 0:
        d = abs(d)
    return f"{d:.{digits}f}"


def p_value(value: Any) -> str | None:
    """3 decimals, or "<0.001"."""
    if is_missing(value):
        return None
    v = clean(value)
    return f"<{P_FLOOR:.3f}" if v < P_FLOOR else fixed(v, 3)


def percent(value: Any, digits: int = 1) -> str | None:
    """A share (0..1) as a percentage without the sign: 0.1875 -> "18.8"."""
    if is_missing(value):
        return None
    return fixed(100.0 * float(value), digits)


def confidence_level(confidence: float) -> str:
    """An interval's level as a header says it: 0.95 -> "95%", 0.995 -> "99.5%"."""
    return f"{float(_round_sig(100.0 * confidence, 6)):g}%"


def integer(value: Any) -> str | None:
    if is_missing(value):
        return None
    return str(int(_decimal(float(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)))


def df_text(value: Any) -> str | None:
    """Degrees of freedom: an integer when whole (t-test), else 1 decimal (Welch)."""
    if is_missing(value):
        return None
    v = clean(value)
    return str(int(v)) if float(v).is_integer() else fixed(v, 1)


def yes_no(value: Any) -> str | None:
    """Yes / No for a boolean (or 1 / 0, "true" / "false"); None for a missing value."""
    if is_missing(value):
        return None
    if isinstance(value, str):
        return "Yes" if value.strip().lower() in ("true", "1", "1.0", "yes") else "No"
    return "Yes" if bool(value) else "No"


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 annotator", "0 annotators", "3 judgments"."""
    n = int(n)
    word = singular if n == 1 else (plural_form or singular + "s")
    return f"{n} {word}"


def comma_list(values: Iterable[object]) -> str:
    """ "a, b, c" for messages and the methods text; "(none)" for nothing."""
    return ", ".join(str(v) for v in values) or "(none)"


def join_words(values: Iterable[object], empty: str = "none") -> str:
    """ "a", "a and b", "a, b and c"."""
    items = [str(v) for v in values]
    if not items:
        return empty
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def dimension_label(dimension: Mapping[str, Any] | None, key: str | None = None) -> str:
    """The dimension's label from the study spec, else its key."""
    if dimension is not None:
        label = dimension.get("label")
        if label not in (None, ""):
            return str(label)
        return str(dimension.get("key", key or ""))
    return str(key or "")
