"""Cells of the CSV files evalsite writes and reads: formula escaping and strict numbers. Pure.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (OWASP, "CSV Injection"), so a participant's rationale such as
``=HYPERLINK(...)`` must not reach it as written. :func:`escape_formula` puts a ``'`` in
front of such text, the prefix OWASP recommends; a plain number (``-0.5``) is left alone,
since a spreadsheet shows it as a number and runs nothing. :func:`unescape_formula` gives
back exactly the original text, so an escaped export re-imports unchanged: text that
already starts with ``'`` and a formula prefix (or a second ``'``) gets one more ``'``.

:func:`strict_number` is what a number in a text file is: ASCII digits, an optional sign,
point and exponent. Python's ``float()`` also takes fullwidth digits (``１０``),
underscores (``1_0``), ``nan`` and ``inf``, and turns ``1e-400`` into 0; none of those is a
number here.
"""

from __future__ import annotations

import math
import re

__all__ = [
    "FORMULA_PREFIXES",
    "PLAIN_NUMBER",
    "escape_formula",
    "strict_number",
    "unescape_formula",
]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: a number as written in a text file (ASCII only: ``re.ASCII`` is implied by [0-9])
PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _looks_escaped(text: str) -> bool:
    """``'`` followed by a formula prefix or another ``'``: what escape_formula writes."""
    return text[:1] == "'" and text[1:2] in (*FORMULA_PREFIXES, "'")


def escape_formula(text: str) -> str:
    """``text`` as a cell a spreadsheet shows as text, never runs (see the module note)."""
    risky = text[:1] in FORMULA_PREFIXES and not PLAIN_NUMBER.fullmatch(text)
    return "'" + text if risky or _looks_escaped(text) else text


def unescape_formula(text: str) -> str:
    """The original text of a cell written by :func:`escape_formula`."""
    return text[1:] if _looks_escaped(text) else text


def strict_number(text: str) -> float | None:
    """The finite float ``text`` writes, or None when it is not a plain number, is too
    large (``1e400``) or too small to be told from 0 (``1e-400``)."""
    if not PLAIN_NUMBER.fullmatch(text):
        return None
    value = float(text)
    if not math.isfinite(value):
        return None
    mantissa = re.split("[eE]", text, maxsplit=1)[0]
    if value == 0.0 and any(c in "123456789" for c in mantissa):
        return None  # underflow: a nonzero number read as 0
    return value
