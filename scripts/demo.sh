#!/usr/bin/env bash
# Set everything up on a fresh machine and run the demo on the embedded default:
# SQLite, in-process tasks, in-memory channel layer. Needs only Python 3.11+.
# PORT, HOST: where to serve (default 127.0.0.1:8000); EVALSITE_VAR_DIR: where the database
# lives (default ./var); EVALSITE_SKIP_INSTALL=1 skips the pip install (.venv must exist).
# EVALSITE_DEMO=1 tells the settings this is the embedded demo: a development secret key, any
# host, plain HTTP (a deployment must set DJANGO_SECRET_KEY and DJANGO_ALLOWED_HOSTS instead).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8000}"
HOST="${HOST:-127.0.0.1}"
PYTHON="${PYTHON:-python3}"
export EVALSITE_DEMO=1
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ "${EVALSITE_SKIP_INSTALL:-0}" != 1 ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
fi
.venv/bin/python manage.py collectstatic --noinput -v 0
.venv/bin/python manage.py setup_demo --base-url "http://$HOST:$PORT"
echo
echo "Serving on http://$HOST:$PORT/ (Ctrl-C to stop)"
exec .venv/bin/daphne -b "$HOST" -p "$PORT" evalsite.asgi:application
