"""The real ASGI servers in a fresh subprocess, serving the test database: daphne (one
process) and the production command (uvicorn with several workers, `ProductionServer`).

A fresh process (not a fork of the test process, which may hold torch's threads or open
connections) started against the same database the test writes to.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from django.conf import settings
from django.db import connection


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{db.get('USER') or ''}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


class DaphneServer:
    def __init__(self, port: int | None = None):
        self.port = port or _free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(
            os.environ, DATABASE_URL=_database_url(), DJANGO_SETTINGS_MODULE="evalsite.settings"
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "evalsite.asgi:application",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("daphne did not start: " + self.output())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> DaphneServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            print(self.output())
        self.kill()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def output(self) -> str:
        if self.process is None or self.process.stdout is None:
            return ""
        self.kill()
        return self.process.stdout.read().decode(errors="replace")[-3000:]


class ProductionServer:
    """The production command (README, "Running in production"): uvicorn with several worker
    processes, on the test database, with the pool and the request cap of evalsite/settings.py.

    `env` adds or overrides environment variables (pool size, cap, rate limits); output goes
    to a file, so a chatty server never blocks on a full pipe."""

    def __init__(
        self,
        workers: int = 2,
        env: dict[str, str] | None = None,
        settings_module: str = "evalsite.settings",
        port: int | None = None,
    ):
        self.workers = workers
        self.port = port or _free_port()
        self.extra_env = env or {}
        self.settings_module = settings_module
        self.process: subprocess.Popen | None = None
        handle, self._log_path = tempfile.mkstemp(prefix="evalsite-uvicorn-", suffix=".log")
        os.close(handle)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "evalsite.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--lifespan",
            "off",
            "--no-access-log",
        ]

    def start(self, timeout: float = 60) -> None:
        env = dict(
            os.environ,
            DATABASE_URL=_database_url(),
            DJANGO_SETTINGS_MODULE=self.settings_module,
            EVALSITE_DB_POOL="1",  # as in production (the test process itself runs without)
        )
        env.update(self.extra_env)
        with open(self._log_path, "ab") as log:  # appended to: a restart keeps the first log
            self.process = subprocess.Popen(
                self.command(),
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers are killed with it (one process group)
            )
        # Ready when every worker has loaded the app (each says "Started server process").
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                break
            if self.output(kill=False).count("Started server process") >= self.workers:
                return
            time.sleep(0.2)
        raise RuntimeError("uvicorn did not start: " + self.output())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ProductionServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            print(self.output())
        self.kill()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def output(self, kill: bool = True) -> str:
        if kill:
            self.kill()
        with open(self._log_path, "rb") as log:
            return log.read().decode(errors="replace")[-6000:]
