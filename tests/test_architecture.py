"""The import architecture holds (contracts in .importlinter, checked by import-linter):

- no import cycle: the apps are layered (console over analysis over annotation over generation
  over core) and no package's modules import each other in a circle, at any depth;
- generation imports no annotation, and no app imports the project package (evalsite) except
  its settings: evalsite (ASGI routing, URLs, the Celery app) is the one place that joins them;
- the pure cores (core, annotation.design, annotation.spec, annotation.spec_fields,
  annotation.dimensions, annotation.answers, analysis.stats and the analysis modules below
  the selectors, generation.backends, generation.importers, generation.validation) import no
  Django, Celery or Channels, even indirectly.

The graph is static (grimp), so it covers function-level imports and modules no test imports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from django.conf import settings

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_are_kept():
    done = subprocess.run(
        [str(LINT_IMPORTS), "--config", ".importlinter", "--no-cache", "--no-logo"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "0 broken" in report and "BROKEN" not in report, report


def test_every_contract_is_checked():
    config = (Path(settings.BASE_DIR) / ".importlinter").read_text()
    names = [
        line.split(":", 2)[2].rstrip("]")
        for line in config.splitlines()
        if line.startswith("[importlinter:contract:")
    ]
    assert names == [
        "apps-layered",
        "no-cycles-inside-packages",
        "apps-do-not-import-the-project",
        "pure-cores",
    ]
