"""./scripts/demo.sh, the README's first command, sets up a new database and serves the demo.

It runs here as written, with EVALSITE_SKIP_INSTALL=1 (the test suite's .venv/ already holds
requirements.txt), a scratch EVALSITE_VAR_DIR (a new SQLite database) and a free PORT; the
test waits until the site answers, opens the annotator links it printed, then stops it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, opener=None) -> tuple[int, str]:
    opener = opener or urllib.request.build_opener()
    with opener.open(url, timeout=5) as answer:
        return answer.status, answer.read().decode("utf-8", "replace")


@pytest.mark.skipif(
    not (ROOT / ".venv" / "bin" / "daphne").exists(), reason="demo.sh runs .venv/bin/daphne"
)
def test_demo_script_sets_up_and_serves_the_demo(tmp_path):
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_", "CELERY_", "CHANNEL_"))
        and k not in ("DATABASE_URL", "EVALSITE_DEMO")
    }  # demo.sh sets EVALSITE_DEMO itself
    env.update(
        PORT=str(port),
        HOST="127.0.0.1",
        EVALSITE_VAR_DIR=str(tmp_path / "var"),
        EVALSITE_SKIP_INSTALL="1",
    )
    (tmp_path / "var").mkdir()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["./scripts/demo.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            assert proc.poll() is None, f"demo.sh exited with {proc.returncode}:\n{log.read_text()}"
            try:
                status, _ = _get(f"http://127.0.0.1:{port}/admin/login/")
                break
            except OSError:
                assert time.monotonic() < deadline, (
                    f"not serving after {STARTUP_TIMEOUT} s:\n{log.read_text()}"
                )
                time.sleep(0.2)
        assert status == 200
        printed = log.read_text()
        assert f"Serving on http://127.0.0.1:{port}/" in printed
        assert "user: researcher, password: " in printed
        links = re.findall(
            rf"annotator link \(\w+\): (http://127\.0\.0\.1:{port}/a/[\w-]+/)", printed
        )
        assert {link.rsplit("/", 2)[1] for link in links} == {
            "demo-empathy-rating",
            "demo-prosocial-pairwise",
        }
        for link in links:  # an annotator's browser keeps the participant cookie
            browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
            status, page = _get(link, browser)
            assert status == 200 and "<form" in page, link
        assert (tmp_path / "var" / "evalsite.sqlite3").exists()  # the database is where it was told
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
