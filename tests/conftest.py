"""Shared fixtures. The suite runs on SQLite by default and on PostgreSQL when
DATABASE_URL points at one (see scripts/test.sh and .ci/run).

The session runs on the embedded demo's settings: tests/settings.py (pytest-django's
settings module, loaded before this file) sets EVALSITE_DEMO=1 in the environment, which the
servers, workers and commands the tests start inherit."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# Test files that use no database of the run (pure code, or their own SQLite file in a
# subprocess): marked database_free, so the PostgreSQL + Redis phase of scripts/test.sh
# (-m "not database_free") does not run them a second time for nothing.
DATABASE_FREE = (
    "tests/analysis/test_bundle.py",
    "tests/analysis/test_mixed.py",
    "tests/analysis/test_power.py",
    "tests/analysis/test_readable_output.py",
    "tests/analysis/test_stats_",
    "tests/analysis/test_study_analysis.py",
    "tests/generation/test_backends_",
    "tests/generation/test_importers",
    "tests/generation/test_pure_imports.py",
    "tests/test_architecture.py",
    "tests/test_demo_script.py",
    "tests/test_limits.py",
    "tests/serving/test_bench_gate.py",
    "tests/test_readme_commands.py",
    "tests/test_test_script.py",
)


def _database_free(item) -> bool:
    path = item.path.relative_to(item.config.rootpath).as_posix()
    return path.startswith(DATABASE_FREE) and "django_db" not in item.keywords


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _database_free(item):
            item.add_marker(pytest.mark.database_free)
    from django.conf import settings

    if not settings.configured:  # pure tests run with -p no:django
        return
    from django.db import connection

    on_postgres = connection.vendor == "postgresql"
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: run with DATABASE_URL=postgres://…")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)


@pytest.fixture
def on_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"
