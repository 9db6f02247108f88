"""The spec's ``annotator_safety`` section (pure): how annotators are protected from what
they read, after ProsocialDialog, whose workers could skip distressing items, were told to
take breaks and saw crisis resources.

- ``skip_distressing``: an annotator may mark an item as distressing and skip it; the skip
  is recorded, is not a judgment, and the output goes to someone else (annotation/safety.py).
- ``break_reminder_minutes``: after this long judging without a break, a reminder to take
  one (the annotator may pause: their place is kept).
- ``daily_item_cap``: at most this many items (judged or skipped) per annotator in any
  24 hours; past it they are asked to come back later, and their place is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import Field

from annotation.spec.parts import Minutes
from annotation.spec_fields import Flag, SpecModel

__all__ = ["MAX_DAILY_ITEMS", "SafetySpec"]

# More than anyone judges in a day; a cap above it caps nothing.
MAX_DAILY_ITEMS = 10_000


class SafetySpec(SpecModel):
    """The ``annotator_safety`` section; every part is optional."""

    skip_distressing: Flag = True
    break_reminder_minutes: Minutes | None = None
    daily_item_cap: Annotated[int, Field(strict=True, ge=1, le=MAX_DAILY_ITEMS)] | None = None

    bounds: ClassVar[Mapping[str, str]] = {
        "break_reminder_minutes": "a day; a reminder later than that reminds nobody",
        "daily_item_cap": "more than anyone judges in a day",
    }

    def to_dict(self) -> dict[str, Any]:
        return {
            "skip_distressing": self.skip_distressing,
            "break_reminder_minutes": self.break_reminder_minutes,
            "daily_item_cap": self.daily_item_cap,
        }
