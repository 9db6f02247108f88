"""The product's vocabulary: one definition of each enumerated concept, used everywhere.

Models (as ``choices``), the study spec, the designer, exports and the analysis all read
these; no other module spells the values out. Pure: no Django, importable from anywhere
(``generation`` may not import ``annotation``, so shared words live here).
"""

from __future__ import annotations

from enum import StrEnum


class Protocol(StrEnum):
    """How a study's items are judged."""

    RATING = "rating"  # one response, rated on slider / checkbox / likert dimensions
    PAIRWISE = "pairwise"  # two responses, A and B, compared on choice dimensions


class DimensionType(StrEnum):
    SLIDER = "slider"  # 0-100, starts with no value
    CHECKBOX = "checkbox"  # true / false; unticked = false
    LIKERT = "likert"  # 1..points
    CHOICE = "choice"  # a / b / tie (pairwise)


RATING_DIMENSION_TYPES = (DimensionType.SLIDER, DimensionType.CHECKBOX, DimensionType.LIKERT)
PAIRWISE_DIMENSION_TYPES = (DimensionType.CHOICE,)


class SystemKind(StrEnum):
    """Where a system's responses come from."""

    IMPORTED = "imported"  # read from a file
    REFERENCE = "reference"  # the dataset's own reference response
    HF_CAUSAL = "hf_causal"  # generated: a Hugging Face causal LM (optionally + LoRA)
    HF_SEQ2SEQ = "hf_seq2seq"  # generated: a T5-style model
    DEXPERTS = "dexperts"  # generated: base + alpha * (expert - anti-expert)


GENERATED_SYSTEM_KINDS = (SystemKind.HF_CAUSAL, SystemKind.HF_SEQ2SEQ, SystemKind.DEXPERTS)


class Side(StrEnum):
    """The two responses of a pairwise item: A is shown on the left, B on the right."""

    A = "a"
    B = "b"


class Choice(StrEnum):
    """A pairwise answer, as judgments store it (lower case; specs may write A / B / Tie)."""

    A = "a"
    B = "b"
    TIE = "tie"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The enum's values as plain strings, in definition order."""
    return tuple(member.value for member in enum)
