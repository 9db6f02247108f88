#!/usr/bin/env bash
# Install what the tests need and run the whole suite.
#   1. on SQLite (the embedded default);
#   2. again on PostgreSQL + Redis when they answer (EVALSITE_TEST_POSTGRES_URL,
#      EVALSITE_TEST_REDIS_URL), which adds the concurrency and real-broker tests.
# --require-services makes step 2 mandatory (CI uses it).
set -euo pipefail
cd "$(dirname "$0")/.."
REQUIRE_SERVICES=0
[ "${1:-}" = "--require-services" ] && REQUIRE_SERVICES=1
PYTHON="${PYTHON:-python3}"
PG_URL="${EVALSITE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
REDIS_URL="${EVALSITE_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-test.txt

# Browser tests drive Debian's Chromium (Playwright never downloads a browser here).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: could not install chromium; browser tests will be skipped"
fi

.venv/bin/ruff check .
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
echo "== test suite on SQLite =="
env -u DATABASE_URL -u CELERY_BROKER_URL -u CHANNEL_LAYER_URL .venv/bin/pytest -q -p no:cacheprovider

services_up=$(.venv/bin/python - "$PG_URL" "$REDIS_URL" <<'PY'
import sys
ok = True
try:
    import psycopg
    psycopg.connect(sys.argv[1].replace("postgres://", "postgresql://"), connect_timeout=3).close()
except Exception as e:
    print(f"PostgreSQL not reachable: {e}", file=sys.stderr); ok = False
try:
    import redis
    redis.Redis.from_url(sys.argv[2], socket_connect_timeout=3).ping()
except Exception as e:
    print(f"Redis not reachable: {e}", file=sys.stderr); ok = False
print("yes" if ok else "no")
PY
)
if [ "$services_up" = yes ]; then
  echo "== test suite on PostgreSQL + Redis =="
  DATABASE_URL="$PG_URL" EVALSITE_TEST_REDIS_URL="$REDIS_URL" .venv/bin/pytest -q -p no:cacheprovider
elif [ "$REQUIRE_SERVICES" = 1 ]; then
  echo "PostgreSQL and Redis are required (--require-services) but not reachable" >&2
  exit 1
else
  echo "PostgreSQL/Redis not reachable: skipped the real-services run"
fi
