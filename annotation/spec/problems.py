"""Spec problems (``core.problems.Problem``: ``field.path: reason``), and pydantic's errors
translated into them.

The one place that knows how pydantic reports an error (its error types and locations)
and how the spec has always worded it ("must be an integer, got a string '3'").
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from annotation.spec_fields import LOCATED, PATTERN_TEXT, SpecModel, type_name
from core.problems import InvalidInput, Problem

__all__ = ["SpecError", "problems_from", "spec_error"]


#: A spec's error is the located error of every input (``core.problems``); the name is kept
#: for the callers that catch it so (``except spec.SpecError``).
SpecError = InvalidInput
SUBJECT = "study spec"  # the heading of a spec's error: "3 problems in study spec:"


def spec_error(problems: Sequence[Problem]) -> InvalidInput:
    """The error listing every problem of a spec."""
    return InvalidInput(problems, subject=SUBJECT)


def join(path: str, key: str) -> str:
    if not key or key.startswith("["):
        return path + key
    return f"{path}.{key}" if path else key


def problems_from(error: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """Every problem of ``error`` (raised validating ``model``), in the spec's words."""
    found: list[Problem] = []
    for e in error.errors(include_url=False):
        path, parent, annotation = _locate(model, e["loc"])
        if e["type"] == LOCATED:
            ctx = e.get("ctx") or {}
            for where, reason in ctx["problems"]:
                at = where if ctx.get("absolute") else join(path, where)
                found.append(Problem(at or "(spec)", reason))
            continue
        if e["type"] == "union_tag_not_found":
            found.append(Problem(join(path, _discriminator(annotation)), "is required"))
            continue
        if e["type"] == "union_tag_invalid":
            path = join(path, _discriminator(annotation))
        found.append(Problem(path or "(spec)", _reason(e, parent, annotation)))
    return found


# --------------------------------------------------------------------------- locations


def _unwrap(annotation: Any) -> Any:
    """The type without Annotated metadata and without an optional None."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _discriminator(annotation: Any) -> str:
    for meta in getattr(annotation, "__metadata__", ()):
        if getattr(meta, "discriminator", None):
            return str(meta.discriminator)
    return "type"


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _locate(model: type[BaseModel], loc: Sequence[int | str]) -> tuple[str, Any, Any]:
    """(spec path, model holding the last field, annotation of the located value).

    Walks pydantic's location through the models' annotations: field names join with
    dots, list indexes become ``[i]``, and a union's tag (pydantic names the member it
    chose) is dropped, since the spec has no such level.
    """
    path, parent = "", None
    annotation: Any = model
    for part in loc:
        raw = annotation
        annotation = _unwrap(annotation)
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            tag_of = _discriminator(raw)
            members = typing.get_args(annotation)
            chosen = [m for m in members if _is_model(m) and part in _tags(m, tag_of)]
            annotation = chosen[0] if chosen else None
            continue
        if _is_model(annotation):
            parent = annotation
            path = join(path, str(part))
            field = annotation.model_fields.get(str(part))
            annotation = (
                typing.Annotated[(field.annotation, *field.metadata)]
                if field is not None and field.metadata
                else field.annotation
                if field is not None
                else None
            )
        elif origin in (list, tuple, Sequence) and isinstance(part, int):
            path = join(path, f"[{part}]")
            items = [a for a in typing.get_args(annotation) if a is not Ellipsis]
            annotation = items[0] if items else None
        elif origin in (dict, Mapping):
            path = join(path, str(part))
            args = typing.get_args(annotation)
            annotation = args[1] if len(args) == 2 else None
        else:
            path = join(path, f"[{part}]" if isinstance(part, int) else str(part))
            annotation = None
    return path, parent, annotation


def _tags(member: type[BaseModel], discriminator: str) -> list[str]:
    """The tag values of a union member (its discriminator field is a Literal)."""
    return [str(t) for t in typing.get_args(member.model_fields[discriminator].annotation)]


# --------------------------------------------------------------------------- reasons


def _choices(annotation: Any) -> list[str]:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(m.value) for m in annotation]
    return []


@dataclass(frozen=True)
class _Error:
    """One pydantic error with what its reason needs: the value, the context, the field,
    the model holding the field, and the annotation of the located value."""

    value: Any
    ctx: Mapping[str, Any]
    field: str
    parent: Any
    annotation: Any

    @property
    def holder(self) -> type[SpecModel] | None:
        parent = self.parent
        return parent if isinstance(parent, type) and issubclass(parent, SpecModel) else None

    @property
    def got(self) -> str:
        return type_name(self.value)


def _missing(e: _Error) -> str:
    return (e.holder.missing.get(e.field) if e.holder else None) or "is required"


def _unknown(e: _Error) -> str:
    if e.holder and e.field in e.holder.misplaced:
        return e.holder.misplaced[e.field]
    listed = (e.holder.listed if e.holder else ()) or (e.parent.model_fields if e.parent else ())
    expected = ", ".join(listed)
    return f"unknown field (expected one of {expected})"


def _pattern(e: _Error) -> str:
    if isinstance(e.value, str) and not e.value.strip():
        return "must not be empty"
    return f"{e.value!r} is not {PATTERN_TEXT.get(e.ctx.get('pattern', ''), 'valid')}"


def _choice(e: _Error) -> str:
    if not isinstance(e.value, str):
        return f"must be a string, got {e.got}"
    return f"{e.value!r} is not one of {', '.join(_choices(e.annotation))}"


def _tag_choice(e: _Error) -> str:
    discriminator = str(e.ctx.get("discriminator", "")).strip("'")
    tag = e.value.get(discriminator) if isinstance(e.value, dict) else None
    if tag is None:
        return "is required"  # null is "not given"
    if not isinstance(tag, str):
        return f"must be a string, got {type_name(tag)}"
    members = typing.get_args(_unwrap(e.annotation))
    tags = [t for m in members if _is_model(m) for t in _tags(m, _discriminator(e.annotation))]
    return f"{tag!r} is not one of {', '.join(tags)}"


def _mapping(e: _Error) -> str:
    return "is required" if e.value is None else f"must be a mapping, got {e.got}"


def _bounded(e: _Error, reason: str) -> str:
    why = e.holder.bounds.get(e.field) if e.holder else None
    return f"{reason} ({why})" if why else reason


def _integer(e: _Error) -> str:
    return f"must be an integer, got {e.got} {e.value!r}"


def _flag(e: _Error) -> str:
    return f"must be true or false, got {e.got} {e.value!r}"


#: pydantic's error type -> the spec's reason.
REASONS: dict[str, Callable[[_Error], str]] = {
    "missing": _missing,
    "extra_forbidden": _unknown,
    "model_type": _mapping,
    "model_attributes_type": _mapping,
    "dict_type": _mapping,
    "dataclass_type": _mapping,
    "list_type": lambda e: f"must be a list, got {e.got}",
    "tuple_type": lambda e: f"must be a list, got {e.got}",
    "too_short": lambda e: f"must be a non-empty list, got {e.got}",
    "string_type": lambda e: f"must be a string, got {e.got}",
    "string_pattern_mismatch": _pattern,
    "int_type": _integer,
    "int_parsing": _integer,
    "int_from_float": _integer,
    "bool_type": _flag,
    "bool_parsing": _flag,
    "greater_than_equal": lambda e: f"must be at least {e.ctx['ge']}, got {e.value}",
    "less_than_equal": lambda e: _bounded(e, f"must be at most {e.ctx['le']}, got {e.value}"),
    "string_too_long": lambda e: _bounded(
        e, f"must be at most {e.ctx['max_length']:,} characters, got {len(e.value):,}"
    ),
    "literal_error": _choice,
    "enum": _choice,
    "union_tag_invalid": _tag_choice,
}


def _reason(e: Mapping[str, Any], parent: Any, annotation: Any) -> str:
    reason = REASONS.get(e["type"])
    if reason is None:
        return str(e["msg"])  # an error the spec does not word itself
    field = str(e["loc"][-1]) if e["loc"] else ""
    return reason(_Error(e.get("input"), e.get("ctx") or {}, field, parent, annotation))
