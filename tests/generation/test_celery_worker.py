"""A real Celery worker (a subprocess on the `gpu` queue, Redis broker) runs generation jobs
end to end against the test database; and a worker killed mid-chunk is made good by a resume.

Needs Redis (skipped, with the reason, when it does not answer; CI has it). The worker and
the `generate` command run as subprocesses with DATABASE_URL pointing at pytest-django's test
database, so the tests use committed rows (`transaction=True`). Every worker is terminated by
the fixture's finalizer and its log is printed there (pytest shows it when a test fails).
The first test also builds a study whose spec has a generated system, through the worker.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from django.conf import settings
from django.db import connection

from annotation.models import Item
from generation import selectors, services
from generation.models import Candidate, Context, Dataset, GenerationJob
from generation.services import register_system

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [pytest.mark.redis, pytest.mark.models, pytest.mark.django_db(transaction=True)]

BROKER = os.environ.get("EVALSITE_TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
BASE_DIR = Path(settings.BASE_DIR)
READY_TIMEOUT = 120


def redis_answers(url: str) -> bool:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
        return True
    except Exception:
        return False


def this_test_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(s["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            pytest.skip("the SQLite test database is in memory: a worker process cannot share it")
        return f"sqlite:///{Path(name).resolve()}"
    if connection.vendor == "postgresql":
        auth = quote(s.get("USER") or "", safe="")
        if s.get("PASSWORD"):
            auth += ":" + quote(s["PASSWORD"], safe="")
        host = s.get("HOST") or "127.0.0.1"
        port = f":{s['PORT']}" if s.get("PORT") else ""
        return f"postgres://{auth}@{host}{port}/{s['NAME']}"
    pytest.skip(f"no worker test for {connection.vendor}")


@pytest.fixture
def service_env(transactional_db) -> dict[str, str]:
    if not redis_answers(BROKER):
        pytest.skip(
            f"Redis does not answer at {BROKER} (start redis-server, or set "
            "EVALSITE_TEST_CELERY_BROKER_URL); CI runs these tests with Redis"
        )
    env = dict(os.environ)
    env.update(
        DATABASE_URL=this_test_database_url(),
        CELERY_BROKER_URL=BROKER,
        CELERY_RESULT_BACKEND=BROKER,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
        EVALSITE_LOG_LEVEL="INFO",
        DJANGO_SETTINGS_MODULE="evalsite.settings",
    )
    env.pop("CHANNEL_LAYER_URL", None)
    return env


class Worker:
    def __init__(self, env: dict[str, str], log_path: Path, name: str):
        self.log_path = log_path
        self.name = f"{name}-{uuid.uuid4().hex[:8]}@%h"
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "evalsite",
                "worker",
                "-Q",
                "gpu,celery",
                "--concurrency",
                "1",
                "--pool",
                "solo",
                "-n",
                self.name,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if self.proc.poll() is not None:
                pytest.fail(f"the Celery worker exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.2)
        pytest.fail(f"the Celery worker was not ready after {READY_TIMEOUT} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL, as when a machine dies: no warm shutdown, no ack."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self._log.close()


@pytest.fixture
def start_worker(service_env, tmp_path):
    """start_worker(name) -> a ready Worker; every worker is stopped at teardown."""
    workers: list[Worker] = []

    def start(name: str = "gen") -> Worker:
        worker = Worker(service_env, tmp_path / f"worker-{len(workers)}.log", name)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()
        print(
            f"----- log of Celery worker {worker.name} (pid {worker.pid}, exit {worker.proc.returncode}) -----"
        )
        print(worker.log()[-20000:])


def manage(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def celery_results(task_ids: list[str]) -> list[dict]:
    from celery import Celery

    client = Celery("evalsite-test-client", broker=BROKER, backend=BROKER)
    try:
        return [client.AsyncResult(task_id).get(timeout=30) for task_id in task_ids]
    finally:
        client.close()


def make_contexts(n: int) -> list[Context]:
    dataset = Dataset.objects.create(name=f"worker-ds-{uuid.uuid4().hex[:6]}", format="jsonl")
    Context.objects.bulk_create(
        [
            Context(
                dataset=dataset,
                external_id=f"w{i}",
                turns=[
                    {
                        "speaker": "Speaker",
                        "text": f"Story number {i}: my dog passed away last week.",
                    }
                ],
            )
            for i in range(n)
        ]
    )
    return list(Context.objects.filter(dataset=dataset).order_by("pk"))


def one_per_key(job: GenerationJob, contexts: list[Context]) -> bool:
    keys = list(Candidate.objects.filter(generation_job=job).values_list("source_key", flat=True))
    wanted = {f"job:{job.pk}:{c.pk}:{s}" for c in contexts for s in range(job.samples_per_context)}
    return len(keys) == len(set(keys)) == len(wanted) and set(keys) == wanted


def test_a_real_worker_runs_a_job_end_to_end(tiny_gpt2, service_env, start_worker, tmp_path):
    system = register_system(
        "worker-gpt2",
        "hf_causal",
        {
            "path": str(tiny_gpt2),
            "device": "cpu",
            "max_new_tokens": 6,
            "min_new_tokens": 2,
            "seed": 5,
        },
    )
    contexts = make_contexts(5)
    job = services.create_job(system, contexts, samples_per_context=2, chunk_size=2, batch_size=4)
    worker = start_worker()

    done = manage(service_env, "generate", str(job.pk), "--timeout", "150", "--poll", "0.2")
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert f"job {job.pk} completed: 10/10 candidates" in done.stdout
    assert "dispatched 3 chunk(s)" in done.stderr and "10/10" in done.stderr  # the progress bar

    job.refresh_from_db()
    assert job.status == "completed" and one_per_key(job, contexts)
    provenance = list(
        Candidate.objects.filter(generation_job=job).values_list("provenance", flat=True)
    )
    assert {p["worker"]["pid"] for p in provenance} == {
        worker.pid
    }  # generated in the worker process
    assert {p["worker"]["task_id"] for p in provenance} == set(job.celery_task_ids)
    assert all(
        p["backend_version"].startswith("hf_causal/") and p["rendered_prompt"] for p in provenance
    )
    # The worker loaded the system once and kept it warm for the other chunks.
    results = celery_results(job.celery_task_ids)
    assert sorted(r["loaded_system"] for r in results) == [False, False, True]
    assert {r["cache_loads"] for r in results} == {1}

    # create_study with a generated system: dispatched to the worker, waited for, then built.
    shutil.copytree(BASE_DIR / "examples" / "data", tmp_path / "data")
    spec = yaml.safe_load((BASE_DIR / "examples" / "demo_rating.yaml").read_text())
    spec["name"] = "worker-study"
    spec["systems"][0] = {
        "name": "baseline",
        "kind": "hf_causal",
        "config": {"path": str(tiny_gpt2), "device": "cpu", "max_new_tokens": 5},
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    built = manage(service_env, "create_study", str(tmp_path / "spec.yaml"))
    assert built.returncode == 0, f"stdout:\n{built.stdout}\nstderr:\n{built.stderr}"
    assert "created study 'worker-study'" in built.stdout
    study_job = GenerationJob.objects.get(system__name="baseline")
    assert (
        f"baseline: generating 12 of 12 candidates (job {study_job.pk}, on the gpu queue)"
        in built.stderr
    )
    assert study_job.status == "completed"
    assert (
        Item.objects.filter(study__name="worker-study", candidate__generation_job=study_job).count()
        == 12
    )
    assert set(
        Candidate.objects.filter(generation_job=study_job).values_list(
            "provenance__worker__pid", flat=True
        )
    ) == {worker.pid}


def test_a_worker_killed_mid_chunk_is_made_good_by_resume(tiny_gpt2, service_env, start_worker):
    system = register_system(
        "slow-gpt2",
        "hf_causal",
        {"path": str(tiny_gpt2), "device": "cpu", "max_new_tokens": 32, "min_new_tokens": 32},
    )
    contexts = make_contexts(40)
    # One chunk of 40 contexts, stored one context at a time: a kill lands mid-chunk.
    job = services.create_job(system, contexts, chunk_size=40, batch_size=1)
    first = start_worker("doomed")
    sent = manage(service_env, "generate", str(job.pk), "--no-wait")
    assert sent.returncode == 0, sent.stderr

    deadline = time.monotonic() + 120
    while (progress := selectors.job_progress(job)).done < 3:
        assert progress.status in ("pending", "running"), progress
        assert time.monotonic() < deadline, f"no progress:\n{first.log()}"
        time.sleep(0.02)
    first.kill()
    before = dict(Candidate.objects.filter(generation_job=job).values_list("source_key", "text"))
    progress = selectors.job_progress(job)
    assert progress.status == "running" and 3 <= progress.done < progress.total, progress

    second = start_worker("rescuer")
    resumed = manage(
        service_env, "generate", str(job.pk), "--resume", "--timeout", "150", "--poll", "0.2"
    )
    assert resumed.returncode == 0, f"stdout:\n{resumed.stdout}\nstderr:\n{resumed.stderr}"
    assert f"job {job.pk} completed: 40/40 candidates" in resumed.stdout
    job.refresh_from_db()
    assert job.status == "completed" and one_per_key(job, contexts)
    after = dict(Candidate.objects.filter(generation_job=job).values_list("source_key", "text"))
    assert all(after[k] == v for k, v in before.items())
    pids = {
        p["worker"]["pid"]
        for p in Candidate.objects.filter(generation_job=job).values_list("provenance", flat=True)
    }
    assert pids == {first.pid, second.pid}
