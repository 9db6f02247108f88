"""The summary at the end of scripts/test.sh: one row per phase, totals on the last line.

test.sh appends one tab-separated line per phase to a phases file and then runs

    python scripts/test_summary.py PHASES_FILE

Each line is ``name  kind  rc  started  ended  junit  note`` (tab-separated):

- ``kind`` is ``pytest`` (counts come from the JUnit XML file ``junit`` that pytest wrote
  with ``--junitxml``) or ``check`` (a step with no tests of its own: install, ruff, a
  service that must answer; it shows ``-`` for its counts and adds one failure when it fails);
- ``rc`` is the step's exit status, or ``skip`` for a phase that was not run (the note says why);
- ``started``/``ended`` are epoch seconds (bash's ``$EPOCHREALTIME``);
- ``note`` is printed under the table.

A phase fails when its exit status is not 0 or its report counts a failed test; a pytest
phase that exits non-zero with no failed test in its report (a crash, "no tests collected",
an unreadable report) counts as one failure, so a broken run never reads as a clean one.
Errors (setup/teardown, collection) count as failures; xfail counts as skipped.

The last line printed is ``N passed, N failed, N skipped`` (totals over the phases), which
is what CI readers look for. The exit status is 1 when any phase failed, else 0.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass
class Phase:
    name: str
    kind: str  # "pytest" | "check"
    rc: int | None  # None: not run
    seconds: float
    junit: str = ""
    note: str = ""
    counts: Counts | None = None  # None for a check, or a pytest phase with no readable report
    problems: list[str] = field(default_factory=list)

    @property
    def ran(self) -> bool:
        return self.rc is not None

    @property
    def failed(self) -> bool:
        if not self.ran:
            return False
        return (
            self.rc != 0
            or (self.counts is not None and self.counts.failed > 0)
            or bool(self.problems)
        )

    def totals(self) -> Counts:
        """What this phase adds to the last line."""
        counts = Counts(**vars(self.counts)) if self.counts is not None else Counts()
        if self.failed and counts.failed == 0:
            counts.failed = 1  # failed outside any test case: still one failure
        return counts

    @property
    def status(self) -> str:
        if not self.ran:
            return "not run"
        return "FAILED" if self.failed else "ok"


def read_junit(path: str | Path) -> Counts:
    """Count the test cases of a JUnit XML file (pytest's --junitxml, any family).

    Each <testcase> counts once: failed if it holds a <failure> or <error>, skipped if it
    holds a <skipped>, else passed. Raises ValueError when the file cannot be read.
    """
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        raise ValueError(f"cannot read the JUnit report {path}: {error}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"{path} is not a JUnit report (root element <{root.tag}>)")
    counts = Counts()
    for case in root.iter("testcase"):
        tags = {child.tag for child in case}
        if tags & {"failure", "error"}:
            counts.failed += 1
        elif "skipped" in tags:
            counts.skipped += 1
        else:
            counts.passed += 1
    return counts


def parse_phases(text: str) -> list[Phase]:
    phases = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 5:
            raise ValueError(
                f"phases line {number}: expected at least 5 tab-separated fields: {line!r}"
            )
        name, kind, rc_text, started, ended, *rest = parts
        junit = rest[0] if rest else ""
        note = "\t".join(rest[1:]) if len(rest) > 1 else ""
        if kind not in ("pytest", "check"):
            raise ValueError(f"phases line {number}: kind must be pytest or check, not {kind!r}")
        rc = None if rc_text == "skip" else int(rc_text)
        try:
            seconds = max(0.0, float(ended) - float(started))
        except ValueError:
            seconds = 0.0
        phase = Phase(name=name, kind=kind, rc=rc, seconds=seconds, junit=junit, note=note)
        if phase.ran and kind == "pytest":
            if not junit:
                phase.problems.append("no JUnit report")
            else:
                try:
                    phase.counts = read_junit(junit)
                except ValueError as error:
                    phase.problems.append(str(error))
            if phase.counts is not None and rc not in (0, None) and phase.counts.failed == 0:
                phase.problems.append(
                    f"pytest exited with status {rc} and no failed test in its report"
                )
        phases.append(phase)
    return phases


def totals(phases: list[Phase]) -> Counts:
    out = Counts()
    for phase in phases:
        t = phase.totals()
        out.passed += t.passed
        out.failed += t.failed
        out.skipped += t.skipped
    return out


def totals_line(phases: list[Phase]) -> str:
    t = totals(phases)
    return f"{t.passed} passed, {t.failed} failed, {t.skipped} skipped"


def render(phases: list[Phase]) -> str:
    """The table, the notes, then the totals line (last)."""
    header = ("phase", "status", "passed", "failed", "skipped", "seconds")
    rows = []
    for p in phases:
        if p.counts is not None:
            c = p.totals()
            counts = (str(c.passed), str(c.failed), str(c.skipped))
        elif p.failed:
            counts = ("-", "1", "-")
        else:
            counts = ("-", "-", "-")
        rows.append((p.name, p.status, *counts, f"{p.seconds:.1f}" if p.ran else "-"))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(widths[i]) for i, cell in enumerate(row[2:], 2)]
        return "  ".join(cells).rstrip()

    out = ["== summary ==", line(header), line(tuple("-" * w for w in widths))]
    out += [line(row) for row in rows]
    notes = [(p.name, text) for p in phases for text in ([p.note] if p.note else []) + p.problems]
    if notes:
        out.append("")
        out += [f"{name}: {text}" for name, text in notes]
    out.append(totals_line(phases))
    return "\n".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: test_summary.py PHASES_FILE", file=sys.stderr)
        return 2
    phases = parse_phases(Path(argv[0]).read_text(encoding="utf-8"))
    print(render(phases))
    return 1 if any(p.failed for p in phases) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
