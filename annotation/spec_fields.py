"""Building blocks of the study spec's pydantic models (pure: no Django).

The spec models (``annotation.spec``) and the dimension types (``annotation.dimensions``)
are written with these, so a field reads the same way everywhere: strict types (``"3"`` is
not a number, ``1`` is not true), null meaning "not given", every model frozen and closed
to unknown fields. Pydantic's own error messages are translated into the spec's words in
one place, ``annotation.spec.problems``; a rule that must name another field, or several
problems at once, raises ``located``. Its own module because both packages import it and
``annotation.spec`` imports ``annotation.dimensions``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator
from pydantic_core import PydanticCustomError

from core.limits import STUDY_TEXT_CHARS

__all__ = [
    "LOCATED",
    "PATTERN_TEXT",
    "Flag",
    "Markdown",
    "SpecModel",
    "Text",
    "freeze",
    "located",
    "meaning",
    "type_name",
]

#: The error type of ``located``; ``ctx["problems"]`` holds (path, reason) pairs.
LOCATED = "located"

#: What each field pattern means, in the words an error uses ("is not a slug (...)").
PATTERN_TEXT: dict[str, str] = {}


def located(*problems: tuple[str, str], absolute: bool = False) -> PydanticCustomError:
    """An error holding ``problems``: (path, reason) pairs.

    A path is relative to the model that raises it ("" for the model itself, "labels",
    "expect.empathy") unless ``absolute`` (a full spec path, "design.batch_size").
    """
    text = "; ".join(f"{path}: {reason}" if path else reason for path, reason in problems)
    return PydanticCustomError(
        LOCATED, "{text}", {"text": text, "problems": list(problems), "absolute": absolute}
    )


def meaning(regex: str, text: str) -> str:
    """Register what a field pattern means (``text`` names it in errors); returns it."""
    PATTERN_TEXT[regex] = text
    return regex


NON_BLANK = meaning(r"\S", "a non-empty text")
Text = Annotated[str, Strict(), Field(pattern=NON_BLANK)]  # blank text is "must not be empty"
Flag = Annotated[bool, Strict()]
#: A study text shown to annotators as Markdown (instructions, consent, ...); its size is
#: bounded because every page they see carries it.
Markdown = Annotated[Text, Field(max_length=STUDY_TEXT_CHARS)]


def freeze(value: Any) -> Any:
    """Read-only mappings and tuples all the way down (hash a spec with spec_hash)."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


class SpecModel(BaseModel):
    """A frozen part of the spec that refuses unknown fields; null means "not given".

    ``missing`` and ``misplaced`` give the reason for a missing field and for a field of
    another kind of this model (a likert field on a slider), where "is required" and
    "unknown field" would say too little; ``listed`` the fields an unknown field's message
    offers (all kinds' fields, for a model that is one kind of several); ``bounds`` why a
    field's upper bound is what it is (said when a value passes it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    missing: ClassVar[Mapping[str, str]] = {}
    misplaced: ClassVar[Mapping[str, str]] = {}
    listed: ClassVar[tuple[str, ...]] = ()  # the fields an "unknown field" names (default: its own)
    bounds: ClassVar[Mapping[str, str]] = {}

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        # Specs write `field: null` (and to_dict writes None) for "use the default".
        if isinstance(data, Mapping):
            return {k: v for k, v in data.items() if v is not None}
        return data

    def __setattr__(self, name: str, value: Any) -> None:
        # The same error a frozen dataclass gives (pydantic's own is a ValidationError).
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
