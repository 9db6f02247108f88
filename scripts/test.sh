#!/usr/bin/env bash
# Install what the tests need and run every phase, then print a summary:
#   install                      requirements-test.txt (and Debian's Chromium for the browser
#                                tests, when run as root);
#   ruff                         lint;
#   ruff format                  `ruff format --check`: the code is formatted as pyproject.toml says;
#   mypy                         type checks of the modules listed in pyproject.toml ([tool.mypy] files);
#   tests on SQLite              the suite on the embedded default;
#   tests on PostgreSQL + Redis  the suite again when they answer (EVALSITE_TEST_POSTGRES_URL,
#                                EVALSITE_TEST_REDIS_URL): adds the concurrency and
#                                real-broker tests.
# Every phase runs even when an earlier one failed. The summary (scripts/test_summary.py)
# is a table of phase, status, passed, failed, skipped, seconds, and its last line is
# "N passed, N failed, N skipped" (totals over the phases). The exit status is non-zero
# when any phase failed.
#
# --require-services makes the PostgreSQL + Redis phase mandatory (CI uses it): a service
# that does not answer is named with its URL and fails that phase; the others still run.
#
# Environment (besides the URLs above):
#   PYTHON                       interpreter that creates .venv (default python3)
#   EVALSITE_TEST_PATHS          space-separated paths to test, lint, format-check and type-check
#                                instead of the whole project (the script's own tests point it
#                                at a tiny folder)
#   EVALSITE_SKIP_INSTALL=1      skip the pip and Chromium installs (.venv must exist)
#   EVALSITE_TEST_REPORT_DIR     keep the JUnit XML reports there (default: a temporary folder)
set -uo pipefail  # no -e: a failing phase must not skip the next ones
cd "$(dirname "$0")/.."

REQUIRE_SERVICES=0
for arg in "$@"; do
  case "$arg" in
    --require-services) REQUIRE_SERVICES=1 ;;
    -h|--help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done
PYTHON="${PYTHON:-python3}"
PG_URL="${EVALSITE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${EVALSITE_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
read -r -a TEST_PATHS <<< "${EVALSITE_TEST_PATHS:-}"
LINT_PATHS=("${TEST_PATHS[@]}")
[ "${#LINT_PATHS[@]}" -gt 0 ] || LINT_PATHS=(.)

if [ -n "${EVALSITE_TEST_REPORT_DIR:-}" ]; then
  REPORTS="$EVALSITE_TEST_REPORT_DIR"
  mkdir -p "$REPORTS"
else
  REPORTS="$(mktemp -d "${TMPDIR:-/tmp}/evalsite-test.XXXXXX")"
  trap 'rm -rf "$REPORTS"' EXIT
fi
PHASES="$REPORTS/phases.tsv"
: > "$PHASES"

# record NAME KIND RC STARTED JUNIT NOTE: one line of the phases file (see test_summary.py).
record() {
  local note="${6//$'\t'/ }"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$EPOCHREALTIME" "$5" "${note//$'\n'/; }" >> "$PHASES"
}

# --- install -------------------------------------------------------------------------------
started=$EPOCHREALTIME
rc=0
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv || rc=$?
fi
if [ "${EVALSITE_SKIP_INSTALL:-0}" = 1 ]; then
  [ -x .venv/bin/python ] || rc=1
  record install check "$rc" "$started" "" "skipped the pip install (EVALSITE_SKIP_INSTALL=1)"
else
  if [ "$rc" = 0 ]; then
    .venv/bin/python -m pip install -q --upgrade pip || rc=$?
    .venv/bin/python -m pip install -q -r requirements-test.txt || rc=$?
  fi
  # Browser tests drive Debian's Chromium (Playwright never downloads a browser here).
  if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; browser tests will be skipped"
  fi
  record install check "$rc" "$started" "" "$([ "$rc" = 0 ] || echo "the install failed (status $rc); later phases may fail for it")"
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# --- ruff ----------------------------------------------------------------------------------
echo "== ruff =="
started=$EPOCHREALTIME
.venv/bin/ruff check "${LINT_PATHS[@]}"
rc=$?
record ruff check "$rc" "$started" "" "$([ "$rc" = 0 ] || echo "ruff check reported problems (status $rc)")"

# --- ruff format ---------------------------------------------------------------------------
echo "== ruff format =="
started=$EPOCHREALTIME
.venv/bin/ruff format --check "${LINT_PATHS[@]}"
rc=$?
record "ruff format" check "$rc" "$started" "" "$([ "$rc" = 0 ] || echo "files not formatted (status $rc): run .venv/bin/ruff format")"

# --- mypy ----------------------------------------------------------------------------------
echo "== mypy =="
started=$EPOCHREALTIME
# No paths: the modules [tool.mypy] files lists (the one place to extend).
.venv/bin/mypy "${TEST_PATHS[@]}"
rc=$?
record mypy check "$rc" "$started" "" "$([ "$rc" = 0 ] || echo "mypy reported problems (status $rc)")"

# --- the suite on SQLite -------------------------------------------------------------------
echo "== test suite on SQLite =="
started=$EPOCHREALTIME
env -u DATABASE_URL -u CELERY_BROKER_URL -u CHANNEL_LAYER_URL \
  .venv/bin/pytest -q -p no:cacheprovider --junitxml="$REPORTS/sqlite.xml" "${TEST_PATHS[@]}"
record "tests on SQLite" pytest "$?" "$started" "$REPORTS/sqlite.xml" ""

# --- the suite on PostgreSQL + Redis -------------------------------------------------------
started=$EPOCHREALTIME
# Prints one line per service that did not answer, naming it and its URL (password hidden).
down=$(.venv/bin/python - "$PG_URL" "$REDIS_URL" 2>&1 <<'PY'
import re
import sys


def shown(url):
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


def why(error):
    return f"{type(error).__name__}: {' '.join(str(error).split()) or 'no detail'}"


pg_url, redis_url = sys.argv[1:3]
try:
    import psycopg

    psycopg.connect(pg_url.replace("postgres://", "postgresql://", 1), connect_timeout=3).close()
except Exception as e:
    print(f"PostgreSQL did not answer at {shown(pg_url)} ({why(e)})")
try:
    import redis

    redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3).ping()
except Exception as e:
    print(f"Redis did not answer at {shown(redis_url)} ({why(e)})")
PY
) || down="${down:+$down; }the service check itself failed"
if [ -z "$down" ]; then
  echo "== test suite on PostgreSQL + Redis =="
  # Tests that use no database ran in the SQLite phase already (tests/conftest.py).
  DATABASE_URL="$PG_URL" EVALSITE_TEST_REDIS_URL="$REDIS_URL" \
    .venv/bin/pytest -q -p no:cacheprovider -m "not database_free" \
    --junitxml="$REPORTS/postgres.xml" "${TEST_PATHS[@]}"
  record "tests on PostgreSQL + Redis" pytest "$?" "$started" "$REPORTS/postgres.xml" ""
elif [ "$REQUIRE_SERVICES" = 1 ]; then
  echo "$down" >&2
  echo "error: PostgreSQL and Redis are required (--require-services); not running the suite on them" >&2
  record "tests on PostgreSQL + Redis" check 1 "$started" "" "required by --require-services, not run: $down"
else
  echo "$down"
  echo "skipping the PostgreSQL + Redis run (pass --require-services to make it mandatory)"
  record "tests on PostgreSQL + Redis" check skip "$started" "" "not run: $down"
fi

# --- summary (its last line is the totals) ---------------------------------------------------
echo
failed_phases=$(awk -F'\t' '$3 != "0" && $3 != "skip"' "$PHASES" | wc -l)
SUMMARY_PY=.venv/bin/python
[ -x "$SUMMARY_PY" ] || SUMMARY_PY="$PYTHON"
"$SUMMARY_PY" scripts/test_summary.py "$PHASES"
summary_rc=$?
if [ "$summary_rc" -gt 1 ]; then
  echo "error: scripts/test_summary.py failed (status $summary_rc); phases that exited non-zero: $failed_phases"
  echo "0 passed, $(( failed_phases > 0 ? failed_phases : 1 )) failed"
  exit 1
fi
if [ "$summary_rc" != 0 ] || [ "$failed_phases" -gt 0 ]; then
  exit 1
fi
exit 0
