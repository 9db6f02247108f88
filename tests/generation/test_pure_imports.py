"""The pure parts of generation import without torch: the web process and the validators
use decoding parameters, system configs and importers without loading a deep-learning stack."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

PURE_MODULES = [
    "generation.backends",
    "generation.backends.base",
    "generation.importers",
    "generation.validation",
    "generation.checkpoints",
    "generation.backends.prompts",
    "generation.selectors",
    "generation.services",
    "generation.tasks",
    "generation.worker",
]


def test_importing_the_pure_parts_of_generation_does_not_import_torch():
    code = (
        "import sys, django; django.setup()\n"
        f"for name in {PURE_MODULES!r}: __import__(name)\n"
        "from generation.backends import DecodingParameters\n"
        "DecodingParameters(max_new_tokens=3)\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "evalsite.settings", "DJANGO_DEBUG": "1"},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"imported {done.stdout.strip()}"
