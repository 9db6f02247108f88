"""``--map SOURCE=FIELD``: which source column (or JSON key) holds one of our fields. Pure.

Both import commands read ``--map`` this way (``import_dataset``: ``--map uid=id``, the
file's ``uid`` is the context id; ``import_judgments``: ``--map worker=annotator``).
``import_dataset`` used to read the other order (``--map id=uid``); that order is still
accepted, with a deprecation message, where it cannot mean anything else: the left side is
one of our field names and the right side is not. When both sides are field names the
item could be read either way, and it is refused with both readings named.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["MapError", "SourceField", "read_map_item"]


class MapError(ValueError):
    """A ``--map`` item that cannot be read (malformed, or ambiguous)."""


@dataclass(frozen=True)
class SourceField:
    """One ``--map`` item read: ``source`` (as written) holds our ``field``."""

    source: str
    field: str
    # set when the item was written in the deprecated FIELD=SOURCE order: what to tell the user
    deprecation: str = ""


def read_map_item(
    text: str, fields: Collection[str], *, option: str = "--map"
) -> SourceField | None:
    """Read ``SOURCE=FIELD`` (or the deprecated, unambiguous ``FIELD=SOURCE``).

    ``fields`` are our field names (lower case; the sides are compared without case).
    Returns None when neither side is a field name, so the caller can say what that means
    for its command. Raises MapError for an item without ``=`` or one both sides of which
    are field names.
    """
    left, sep, right = (part.strip() for part in str(text).partition("="))
    if not sep or not left or not right:
        raise MapError(f"{option} {text!r}: write SOURCE=FIELD (the source column, then our field)")
    left_is_field, right_is_field = left.lower() in fields, right.lower() in fields
    if right_is_field and (not left_is_field or left.lower() == right.lower()):
        return SourceField(left, right.lower())
    if left_is_field and right_is_field:
        raise MapError(
            f"{option} {text!r} can be read two ways: as SOURCE=FIELD, the source column "
            f"{left!r} holds the field {right.lower()!r}; or in the deprecated FIELD=SOURCE "
            f"order, the source column {right!r} holds the field {left.lower()!r}. Both sides "
            "are field names, so it is not read either way; rename the source column"
        )
    if left_is_field:
        return SourceField(
            right,
            left.lower(),
            deprecation=(
                f"{option} {text}: FIELD=SOURCE is deprecated; read as the source column "
                f"{right!r} holding the field {left.lower()!r}. Write {option} {right}={left.lower()}"
            ),
        )
    return None
