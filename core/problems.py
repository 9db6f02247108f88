"""Located problems: what is wrong with an input, at which field (pure).

A study spec, a system config and a dataset option are all checked the same way: every
problem is collected, each names the field it is at, and the caller gets them all at once,
``field.path: reason`` a line, with nothing created.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["InvalidInput", "Problem"]


@dataclass(frozen=True)
class Problem:
    """One problem of an input: the field it is at and what is wrong.

    ``field`` is a path into the input ("dimensions[2].type", "decoding.top_p"), a file
    ("examples/s.yaml") or "(spec)" for the whole of it."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"

    def under(self, prefix: str) -> Problem:
        """The same problem with its field under ``prefix`` ("systems[1].config.")."""
        return Problem(f"{prefix}{self.field}", self.reason)


class InvalidInput(ValueError):
    """An input with problems; ``problems`` holds every one found.

    ``subject`` names the input in a heading line ("3 problems in study spec:", the
    problems indented below); without it the message is the problems alone, a line each.
    """

    def __init__(self, problems: Sequence[Problem], *, subject: str | None = None):
        self.problems = list(problems)
        self.subject = subject
        lines = [str(p) for p in self.problems]
        if subject is not None:
            n = len(lines)
            head = f"{n} problem{'s' if n != 1 else ''} in {subject}:"
            lines = [head, *(f"  {line}" for line in lines)]
        super().__init__("\n".join(lines))

    def prefixed(self, prefix: str) -> str:
        """The problems with their fields under ``prefix``, a line each."""
        return "\n".join(str(p.under(prefix)) for p in self.problems)
