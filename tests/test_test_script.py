"""scripts/test.sh runs every phase and sums them up; scripts/test_summary.py does the sums.

The summary helper is tested on crafted JUnit XML. The script itself is run end to end on
a tiny folder of fake tests (EVALSITE_TEST_PATHS; EVALSITE_SKIP_INSTALL=1 so nothing
is installed), with a phase that fails on SQLite only, and with PostgreSQL or Redis on a
port where nothing answers.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "test.sh"
PG_URL = os.environ.get("EVALSITE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("EVALSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NOWHERE_PG = "postgres://postgres:hunter2@127.0.0.1:1/postgres"  # nothing listens on port 1
NOWHERE_REDIS = "redis://127.0.0.1:1/15"


def _load_summary():
    spec = importlib.util.spec_from_file_location(
        "test_summary", ROOT / "scripts" / "test_summary.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("test_summary", module)
    spec.loader.exec_module(module)
    return module


summary = _load_summary()


# --- the summary helper on crafted reports ------------------------------------------------

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6">
<testcase classname="tests.test_a" name="test_ok" time="0.01"/>
<testcase classname="tests.test_a" name="test_ok_too" time="0.01"><system-out>hi</system-out></testcase>
<testcase classname="tests.test_a" name="test_bad" time="0.01"><failure message="assert 1 == 2">...</failure></testcase>
<testcase classname="tests.test_a" name="test_teardown" time="0.01"><error message="teardown failed">...</error></testcase>
<testcase classname="tests.test_a" name="test_skip" time="0"><skipped type="pytest.skip" message="no">...</skipped></testcase>
<testcase classname="tests.test_a" name="test_xfail" time="0"><skipped type="pytest.xfail" message="known"/></testcase>
</testsuite></testsuites>
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _phases_file(tmp_path: Path, *rows: tuple) -> Path:
    lines = ["\t".join(str(cell) for cell in row) for row in rows]
    return _write(tmp_path, "phases.tsv", "\n".join(lines) + "\n")


def test_junit_counts_each_test_case_once(tmp_path):
    counts = summary.read_junit(_write(tmp_path, "r.xml", JUNIT))
    assert (counts.passed, counts.failed, counts.skipped) == (2, 2, 2)
    bare = JUNIT.replace('<testsuites name="pytest tests">', "").replace("</testsuites>", "")
    counts = summary.read_junit(_write(tmp_path, "bare.xml", bare))  # a lone <testsuite> root
    assert (counts.passed, counts.failed, counts.skipped) == (2, 2, 2)


def test_table_and_totals_line_last(tmp_path, capsys):
    ok = _write(
        tmp_path,
        "ok.xml",
        JUNIT.replace("<failure", "<system-err")
        .replace("</failure>", "</system-err>")
        .replace("<error", "<system-err")
        .replace("</error>", "</system-err>"),
    )
    bad = _write(tmp_path, "bad.xml", JUNIT)
    phases = _phases_file(
        tmp_path,
        ("install", "check", 0, 10.0, 12.5, "", ""),
        ("ruff", "check", 0, 12.5, 13.0, "", ""),
        ("tests on SQLite", "pytest", 1, 13.0, 73.25, bad, ""),
        ("tests on PostgreSQL + Redis", "pytest", 0, 73.25, 100.0, ok, ""),
    )
    assert summary.main([str(phases)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "6 passed, 2 failed, 4 skipped"
    rows = {
        line.split("  ")[0].strip(): line.split()
        for line in out
        if line.startswith(("install", "ruff", "tests"))
    }
    assert rows["tests on SQLite"][-5:] == ["FAILED", "2", "2", "2", "60.2"]
    assert rows["tests on PostgreSQL + Redis"][-5:] == ["ok", "4", "0", "2", "26.8"]
    assert rows["ruff"][-5:] == ["ok", "-", "-", "-", "0.5"]
    header = next(line for line in out if line.startswith("phase"))
    assert header.split() == ["phase", "status", "passed", "failed", "skipped", "seconds"]


def test_a_clean_run_exits_zero(tmp_path, capsys):
    ok = _write(
        tmp_path, "ok.xml", '<testsuite tests="1"><testcase classname="a" name="b"/></testsuite>'
    )
    phases = _phases_file(
        tmp_path, ("ruff", "check", 0, 0, 1, "", ""), ("tests on SQLite", "pytest", 0, 1, 2, ok, "")
    )
    assert summary.main([str(phases)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 passed, 0 failed, 0 skipped"


def test_a_failed_check_or_a_crashed_run_counts_as_a_failure(tmp_path, capsys):
    empty = _write(tmp_path, "empty.xml", '<testsuites><testsuite tests="0"/></testsuites>')
    phases = _phases_file(
        tmp_path,
        ("ruff", "check", 1, 0, 1, "", "ruff check reported problems (status 1)"),
        ("tests on SQLite", "pytest", 5, 1, 2, empty, ""),  # 5: no tests collected
        ("tests on PostgreSQL + Redis", "pytest", 2, 2, 3, tmp_path / "missing.xml", ""),
        ("garbled", "pytest", 1, 3, 4, _write(tmp_path, "garbled.xml", "<testsuite><testc"), ""),
    )
    assert summary.main([str(phases)]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "0 passed, 4 failed, 0 skipped"
    assert "ruff: ruff check reported problems (status 1)" in out
    assert "tests on SQLite: pytest exited with status 5 and no failed test in its report" in out
    assert "tests on PostgreSQL + Redis: cannot read the JUnit report" in out
    assert "garbled: cannot read the JUnit report" in out


def test_a_phase_not_run_is_shown_with_its_reason_and_does_not_fail(tmp_path, capsys):
    ok = _write(tmp_path, "ok.xml", '<testsuite><testcase classname="a" name="b"/></testsuite>')
    phases = _phases_file(
        tmp_path,
        ("tests on SQLite", "pytest", 0, 0, 1, ok, ""),
        (
            "tests on PostgreSQL + Redis",
            "check",
            "skip",
            1,
            1,
            "",
            "not run: Redis did not answer at redis://x",
        ),
    )
    assert summary.main([str(phases)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "1 passed, 0 failed, 0 skipped"
    assert "tests on PostgreSQL + Redis: not run: Redis did not answer at redis://x" in out
    assert any(line.startswith("tests on PostgreSQL + Redis") and "not run" in line for line in out)


def test_ci_runs_exactly_the_readme_command_with_services_required():
    run = (ROOT / ".ci" / "run").read_text()
    commands = [
        line.strip()
        for line in run.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == "bash scripts/test.sh --require-services"


def test_each_dependency_is_listed_once_in_pyproject():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    groups = {"": project["dependencies"], **project["optional-dependencies"]}
    # quantization: bitsandbytes for 4-/8-bit loading on a GPU worker (not installed by tests)
    assert set(groups) == {"", "generation", "quantization", "test"}
    names = [
        re.split(r"[\[=<>!~ ]", dep, maxsplit=1)[0].lower()
        for deps in groups.values()
        for dep in deps
    ]
    assert len(names) == len(set(names)), "a dependency listed twice"
    assert "torch==2.13.0" in groups["generation"]  # a looser range pulls CUDA builds
    assert "ruff==0.17.*" in groups["test"]
    assert not {"dj-database-url", "accelerate", "pytest-xdist"} & set(names)
    # The requirements files only install the project with its extras.
    installs = {}
    for path in ROOT.glob("requirements*.txt"):
        lines = [
            line.strip()
            for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        installs[path.name] = lines
    assert installs == {
        "requirements.txt": ["-e ."],
        "requirements-generation.txt": ["-e .[generation]"],
        "requirements-test.txt": ["-e .[generation,test]"],
    }


# --- the script end to end on fake tests ----------------------------------------------------

FAKE_TESTS = """import os

import pytest


def test_passes():
    pass


def test_needs_a_database_url():
    assert os.environ.get("DATABASE_URL"), "fails on the SQLite phase, passes on PostgreSQL"


@pytest.mark.skip(reason="always skipped")
def test_skipped():
    pass
"""

PASSING_TESTS = """def test_passes():
    pass


def test_passes_too():
    pass
"""


def _answers(pg_url: str, redis_url: str) -> tuple[bool, bool]:
    pg = redis_up = True
    try:
        import psycopg

        psycopg.connect(
            pg_url.replace("postgres://", "postgresql://", 1), connect_timeout=3
        ).close()
    except Exception:
        pg = False
    try:
        import redis

        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception:
        redis_up = False
    return pg, redis_up


needs_services = pytest.mark.skipif(
    not all(_answers(PG_URL, REDIS_URL)),
    reason="PostgreSQL and Redis must answer (see scripts/test.sh)",
)
needs_venv = pytest.mark.skipif(
    not (ROOT / ".venv" / "bin" / "pytest").exists(),
    reason="scripts/test.sh runs the tools of .venv/",
)


def _fake_project(tmp_path: Path, tests: str, *, lint_error: bool = False) -> Path:
    folder = tmp_path / "fake"
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")  # its own rootdir, not this project's config
    (folder / "test_fake.py").write_text(tests)
    if lint_error:
        (folder / "test_lint.py").write_text("import os\n")  # F401 unused import
    return folder


def _run_script(
    folder: Path, *args: str, pg_url: str = PG_URL, redis_url: str = REDIS_URL
) -> tuple[int, str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_", "EVALSITE_TEST_", "CELERY_", "CHANNEL_"))
        and k not in ("DATABASE_URL",)
    }
    env.update(
        EVALSITE_SKIP_INSTALL="1",
        EVALSITE_TEST_PATHS=str(folder),
        EVALSITE_TEST_POSTGRES_URL=pg_url,
        EVALSITE_TEST_REDIS_URL=redis_url,
        EVALSITE_TEST_REPORT_DIR=str(folder.parent / "reports"),
    )
    done = subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    return done.returncode, done.stdout, done.stderr


def _row(stdout: str, phase: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if re.match(rf"{re.escape(phase)}\s\s", line))
    return line[len(phase) :].split()


@needs_venv
@needs_services
def test_a_failing_sqlite_phase_still_runs_the_postgres_phase_and_fails_the_script(tmp_path):
    rc, out, err = _run_script(_fake_project(tmp_path, FAKE_TESTS), "--require-services")
    assert rc != 0, out + err
    assert "== test suite on PostgreSQL + Redis ==" in out
    assert _row(out, "tests on SQLite")[:4] == ["FAILED", "1", "1", "1"]
    assert _row(out, "tests on PostgreSQL + Redis")[:4] == ["ok", "2", "0", "1"]
    assert out.splitlines()[-1] == "3 passed, 1 failed, 2 skipped"
    assert (tmp_path / "reports" / "sqlite.xml").exists() and (
        tmp_path / "reports" / "postgres.xml"
    ).exists()


@needs_venv
@needs_services
def test_all_phases_passing_exits_zero(tmp_path):
    rc, out, err = _run_script(_fake_project(tmp_path, PASSING_TESTS), "--require-services")
    assert rc == 0, out + err
    assert out.splitlines()[-1] == "4 passed, 0 failed, 0 skipped"


@needs_venv
def test_unreachable_postgres_is_named_with_its_url_and_fails_under_require_services(tmp_path):
    rc, out, err = _run_script(
        _fake_project(tmp_path, FAKE_TESTS), "--require-services", pg_url=NOWHERE_PG
    )
    assert rc != 0
    shown = "PostgreSQL did not answer at postgres://postgres:***@127.0.0.1:1/postgres"
    assert shown in err and shown in out  # when it happens, and again in the summary's notes
    assert "hunter2" not in out + err
    if _answers(PG_URL, REDIS_URL)[1]:
        assert "Redis did not answer" not in out + err
    assert "== test suite on PostgreSQL + Redis ==" not in out
    assert _row(out, "tests on SQLite")[:4] == ["FAILED", "1", "1", "1"]  # still ran
    assert _row(out, "tests on PostgreSQL + Redis")[:4] == ["FAILED", "-", "1", "-"]
    assert out.splitlines()[-1] == "1 passed, 2 failed, 1 skipped"


@needs_venv
def test_unreachable_redis_is_named_with_its_url(tmp_path):
    rc, out, err = _run_script(
        _fake_project(tmp_path, PASSING_TESTS), "--require-services", redis_url=NOWHERE_REDIS
    )
    assert rc != 0
    assert f"Redis did not answer at {NOWHERE_REDIS}" in out
    if _answers(PG_URL, REDIS_URL)[0]:
        assert "PostgreSQL did not answer" not in out + err
    assert _row(out, "tests on SQLite")[:4] == ["ok", "2", "0", "0"]
    assert out.splitlines()[-1] == "2 passed, 1 failed, 0 skipped"


@needs_venv
def test_without_require_services_an_unreachable_service_skips_only_that_phase(tmp_path):
    rc, out, err = _run_script(_fake_project(tmp_path, PASSING_TESTS), pg_url=NOWHERE_PG)
    assert rc == 0, out + err
    assert _row(out, "tests on PostgreSQL + Redis") == ["not", "run", "-", "-", "-", "-"]
    assert (
        "not run: PostgreSQL did not answer at postgres://postgres:***@127.0.0.1:1/postgres" in out
    )
    assert out.splitlines()[-1] == "2 passed, 0 failed, 0 skipped"


@needs_venv
def test_a_lint_failure_fails_the_script_and_the_tests_still_run(tmp_path):
    rc, out, err = _run_script(
        _fake_project(tmp_path, PASSING_TESTS, lint_error=True), pg_url=NOWHERE_PG
    )
    assert rc != 0
    assert "F401" in out
    assert _row(out, "ruff")[:4] == ["FAILED", "-", "1", "-"]
    assert _row(out, "tests on SQLite")[:4] == ["ok", "2", "0", "0"]
    assert out.splitlines()[-1] == "2 passed, 1 failed, 0 skipped"


@needs_venv
def test_unformatted_code_and_a_type_error_fail_their_own_phases(tmp_path):
    folder = _fake_project(tmp_path, PASSING_TESTS)
    (folder / "test_format.py").write_text("x=1\n")  # ruff format writes x = 1
    (folder / "test_types.py").write_text('count: int = "three"\n')
    rc, out, err = _run_script(folder, pg_url=NOWHERE_PG)
    assert rc != 0
    assert "would be reformatted" in out and "test_format.py" in out
    assert "test_types.py:1: error: Incompatible types in assignment" in out
    assert _row(out, "ruff")[:4] == ["ok", "-", "-", "-"]
    assert _row(out, "ruff format")[:4] == ["FAILED", "-", "1", "-"]
    assert _row(out, "mypy")[:4] == ["FAILED", "-", "1", "-"]
    assert _row(out, "tests on SQLite")[:4] == ["ok", "2", "0", "0"]
    assert out.splitlines()[-1] == "2 passed, 2 failed, 0 skipped"


@needs_venv
def test_a_clean_project_passes_the_format_and_type_phases(tmp_path):
    rc, out, err = _run_script(_fake_project(tmp_path, PASSING_TESTS), pg_url=NOWHERE_PG)
    assert rc == 0, out + err
    assert _row(out, "ruff format")[:1] == ["ok"] and _row(out, "mypy")[:1] == ["ok"]


def test_an_unknown_argument_is_refused():
    done = subprocess.run(
        ["bash", str(SCRIPT), "--require-service"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "unknown argument: --require-service" in done.stderr
