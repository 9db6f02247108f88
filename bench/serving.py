"""Serving under a Prolific launch: the judgment cycle against a bare write, and a burst.

    .venv/bin/python bench/serving.py                          # 50, 100, 200 annotators + a 500 burst
    .venv/bin/python bench/serving.py --levels 50 --burst 0    # one level, no burst
    .venv/bin/python bench/serving.py --rounds 1               # one round per level
    .venv/bin/python bench/serving.py --server-env EVALSITE_DB_POOL=0 \\
        --server-env EVALSITE_MAX_CONCURRENT_REQUESTS=0        # as before the pool and the cap

Prints one JSON object. It creates a scratch PostgreSQL database (`--postgres`: an admin URL;
default EVALSITE_BENCH_POSTGRES_URL, else EVALSITE_TEST_POSTGRES_URL, else
postgres://postgres@127.0.0.1:5432/postgres), migrates it, creates one rating study per
level (the shape of examples/first_study.yaml: a slider and a checkbox, batches of 6 items,
overlap 3, enough batches for every annotator) and starts the production server on it
(uvicorn, `--workers`, the README's command, settings bench/serving_settings.py: the app plus
a bare one-INSERT view). Then, for each level N:

  annotators  N participants, each with its own PROLIFIC_PID and cookies (httpx, async), all
              starting at once, go through a whole batch as a browser would: study link,
              consent, instructions, every item (the form read and filled generically,
              bench/serving_client.py, which sends what the page's script adds), the
              completion page. A submit is the POST until the next item's page is in: the
              POST's own answer (the script's next_in_response), or the redirect the last
              one gets and the page it leads to. Each annotator waits at their first
              item until all N have one (serving_client.Gate), so submits/s measures the
              judgment cycle alone; the arrivals before it take `arrival_s`. `--no-gate`
              lets submits start while others still arrive (as before 2026-12-03).
  bare        N clients at the same time, each sending --bare-writes POSTs to a view that
              does one INSERT (through the same server, middleware, pool and cap), after
              one unmeasured POST each that opens its connection (the annotators' are open
              from their arrival when the gate opens).

Before the levels, an unmeasured warm-up (WARMUP annotators, as many bare clients) lets
every worker load its templates and open its connections.

Each level runs --rounds rounds (default 5) of annotators then bare, each round with new
annotators on a study of its own: on a shared machine the speed drifts between phases (the
same bare view measured 450 and 790 writes/s minutes apart here), and alternating the two
with the median round's ratio keeps that drift out of the ratio. Every round's ratio and
rates are in `round_ratios` / `round_rates`; the level's other figures are its median
round's.

submits/s and writes/s are counted over the window from the first to the last of them;
latencies are per submit / per write; `statuses` counts every response (redirects
included) and `errors` those >= 400. `ratio` = submits/s / bare writes/s.
`cpu_ms_per_submit` / `cpu_ms_per_write`: CPU milliseconds per operation of the server's
processes, PostgreSQL's and the load generator (from /proc; null elsewhere), from the gate
on: as both share the machine's cores, they show what the ratio is made of.

The burst: --burst participants (each its own PROLIFIC_PID) arrive at random moments within
--burst-window seconds, open the study link and consent; every status is counted.

Afterwards the invariants of tests/annotation/test_assignment_concurrency.py are checked on
every study (each must be 0): batches holding more slots than they have or than the
overlap, items judged by more annotators than the overlap, participants holding two live
leases, slots leased twice, entries judged twice. The server runs with
EVALSITE_ENTRY_RATE_PER_IP=off (every client here is 127.0.0.1) and its output is kept in
the JSON's `server_log_tail` when something failed. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serving_client import Gate, Outcome, annotate  # noqa: E402

EXAMPLE = ROOT / "examples" / "first_study.yaml"
EXAMPLE_DATA = ROOT / "examples" / "data"
OVERLAP = 3
BATCH = 6
WARMUP = 8  # annotators (and bare clients) of the unmeasured warm-up


# --- the scratch database and the study -------------------------------------------------------


def default_admin_url() -> str:
    return (
        os.environ.get("EVALSITE_BENCH_POSTGRES_URL")
        or os.environ.get("EVALSITE_TEST_POSTGRES_URL")
        or "postgres://postgres@127.0.0.1:5432/postgres"
    )


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    name = f"evalsite_bench_serving_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def contexts_for(annotators: int) -> int:
    """Contexts so that every annotator gets a batch: 3 systems x C contexts = 3C items in
    C/2 batches of 6 (C a multiple of 6: whole blocks), each taken by OVERLAP annotators."""
    return 6 * math.ceil(2 * (annotators + 2) / (OVERLAP * 6))


def write_study(folder: Path, name: str, annotators: int) -> Path:
    """A first_study-shaped spec with enough contexts (the example's, cycled) for everyone."""
    n = contexts_for(annotators)
    contexts = [json.loads(line) for line in (EXAMPLE_DATA / "empathy_contexts.jsonl").open()]
    systems = {
        s: [json.loads(line) for line in (EXAMPLE_DATA / f"empathy_{s}.jsonl").open()]
        for s in ("baseline", "sft")
    }
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "contexts.jsonl").open("w") as out:
        for i in range(n):
            row = dict(contexts[i % len(contexts)], id=f"bench-{i:04d}")
            out.write(json.dumps(row) + "\n")
    for system, rows in systems.items():
        by_id = {r["context_id"]: r for r in rows}
        with (folder / f"{system}.jsonl").open("w") as out:
            for i in range(n):
                source = by_id[contexts[i % len(contexts)]["id"]]
                out.write(json.dumps(dict(source, context_id=f"bench-{i:04d}")) + "\n")
    spec = yaml.safe_load(EXAMPLE.read_text())
    spec["name"] = name
    spec["systems"] = [
        {"name": "baseline", "kind": "imported", "responses": "baseline.jsonl"},
        {"name": "sft", "kind": "imported", "responses": "sft.jsonl"},
        {"name": "human", "kind": "reference"},
    ]
    spec["contexts"] = {"file": "contexts.jsonl"}
    spec["sampling"] = {"n_contexts": n, "seed": 1}
    spec["design"] = {"batch_size": BATCH, "block_size": 2, "overlap": OVERLAP}
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


# --- the server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(port: int, workers: int) -> list[str]:
    """The README's production command (uvicorn with workers) on a local port."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "evalsite.asgi:application",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--lifespan",
        "off",
        "--no-access-log",
    ]


# --- CPU time by part ---------------------------------------------------------------------
# Where a level's CPU went, per submit / per bare write: the server's processes (the
# uvicorn group), PostgreSQL's (every `postgres` process: the pool's backends live through a
# level) and this load generator. Both sides share two cores, so these say what the ratio
# is made of. Read from /proc; elsewhere the figures are null.
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: str) -> tuple[str, int, float] | None:
    """(command, process group, CPU seconds) of one process, from /proc/PID/stat."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    command = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    # after the command: state ppid pgrp session ... utime (12th) stime (13th)
    return command, int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICK


def cpu_seconds(server_group: int) -> dict[str, float] | None:
    if not Path("/proc/self/stat").exists():
        return None
    server = database = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        stat = _proc_stat(pid)
        if stat is None:
            continue
        command, group, seconds = stat
        if group == server_group:
            server += seconds
        elif command == "postgres":
            database += seconds
    own = os.times()
    return {"server": server, "database": database, "client": own.user + own.system}


def cpu_per(before: dict | None, after: dict | None, count: int) -> dict[str, float] | None:
    """Milliseconds of CPU per operation by part, between two cpu_seconds()."""
    if before is None or after is None or not count:
        return None
    return {k: round(1000 * (after[k] - before[k]) / count, 2) for k in before}


@contextlib.contextmanager
def production_server(env: dict[str, str], workers: int, log: Path) -> Iterator[tuple[str, int]]:
    port = _free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            server_command(port, workers),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.time() + 120
        while log.read_text(errors="replace").count("Started server process") < workers:
            if process.poll() is not None or time.time() > deadline:
                raise SystemExit("the server did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", process.pid  # its own session: the group's id
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# --- the load -------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "p99_ms": at(0.99)}


def _client(base: str, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base,
        follow_redirects=True,
        timeout=timeout,
        # Idle connections are dropped before the server would (uvicorn: 5 s), as browsers do:
        # an annotator waiting at the gate must not send its POST on a closed connection.
        limits=httpx.Limits(max_connections=1, keepalive_expiry=4.0),
    )


def _statuses(outcomes: list[Outcome]) -> tuple[dict[str, int], dict[str, int]]:
    counts = Counter(s for o in outcomes for s in o.statuses)
    return (
        {str(k): v for k, v in sorted(counts.items())},
        {str(k): v for k, v in sorted(counts.items()) if k >= 400},
    )


def _rate(spans: list[tuple[float, float]]) -> float:
    if not spans:
        return 0.0
    window = max(end for _, end in spans) - min(start for start, _ in spans)
    return round(len(spans) / window, 2) if window > 0 else 0.0


async def drive_annotators(
    base: str,
    study: str,
    n: int,
    timeout: float,
    seed: int,
    *,
    gated: bool = True,
    server_group: int | None = None,
) -> dict:
    rng = random.Random(seed)
    clients = [_client(base, timeout) for _ in range(n)]
    gate = Gate(n) if gated else None
    cpu_at_gate: list[dict | None] = []  # from the gate to the end: submits, no arrivals
    if gate is not None and server_group is not None:
        gate.on_open = lambda: cpu_at_gate.append(cpu_seconds(server_group))
    started = time.perf_counter()
    try:
        outcomes = await asyncio.gather(
            *(
                annotate(
                    c,
                    f"/a/{study}/",
                    f"bench-{study}-{i}",
                    rng=random.Random(rng.random()),
                    gate=gate,
                )
                for i, c in enumerate(clients)
            )
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    seconds = [s for o in outcomes for s in o.submit_seconds]
    spans = [s for o in outcomes for s in o.submit_spans]
    statuses, errors = _statuses(outcomes)
    return {
        "annotators": n,
        "finished_batches": sum(o.finished for o in outcomes),
        "submits": len(seconds),
        "submits_per_s": _rate(spans),
        **percentiles(seconds),
        "gated": gated,
        # link, consent, instructions and first item of all N at once, before the gate opens
        "arrival_s": round(gate.opened_at - started, 2) if gate and gate.opened_at else None,
        "busy_retries": sum(o.busy_retries for o in outcomes),
        "statuses": statuses,
        "errors": errors,
        "client_errors": Counter(o.error for o in outcomes if o.error).most_common(3),
        "not_finished_on": Counter(o.ended_on for o in outcomes if not o.finished).most_common(3),
        "wall_s": round(time.perf_counter() - started, 2),
        "cpu_ms_per_submit": cpu_per(
            cpu_at_gate[0] if cpu_at_gate else None,
            cpu_seconds(server_group) if server_group is not None else None,
            len(seconds),
        ),
    }


async def drive_bare(
    base: str, n: int, writes: int, timeout: float, server_group: int | None = None
) -> dict:
    clients = [_client(base, timeout) for _ in range(n)]
    statuses: Counter[int] = Counter()
    seconds: list[float] = []
    spans: list[tuple[float, float]] = []
    failures: Counter[str] = Counter()

    async def writer(i: int, client: httpx.AsyncClient) -> None:
        for _ in range(writes):
            start = time.perf_counter()
            try:
                response = await client.post("/bench/write/", data={"client": str(i)})
            except httpx.HTTPError as error:
                failures[type(error).__name__] += 1
                continue
            end = time.perf_counter()
            statuses[response.status_code] += 1
            if response.status_code == 200:
                seconds.append(end - start)
                spans.append((start, end))

    async def open_connection(client: httpx.AsyncClient) -> None:
        try:
            response = await client.post("/bench/write/", data={"client": "warm-up"})
            statuses[response.status_code] += 1
        except httpx.HTTPError as error:
            failures[type(error).__name__] += 1

    # Each client's connection is open before the writes are timed, as the annotators' are
    # (opened while they arrived): otherwise N connection set-ups count against the bare
    # view alone (its writes/s were ~12 % lower so, and the ratio as much higher).
    await asyncio.gather(*(open_connection(c) for c in clients))
    before = cpu_seconds(server_group) if server_group is not None else None
    try:
        await asyncio.gather(*(writer(i, c) for i, c in enumerate(clients)))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    after = cpu_seconds(server_group) if server_group is not None else None
    return {
        "clients": n,
        "writes": len(seconds),
        "writes_per_s": _rate(spans),
        **percentiles(seconds),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": {str(k): v for k, v in sorted(statuses.items()) if k >= 400},
        "client_errors": dict(failures),
        "cpu_ms_per_write": cpu_per(before, after, len(seconds)),
    }


async def drive_burst(base: str, study: str, n: int, window: float, timeout: float) -> dict:
    clients = [_client(base, timeout) for _ in range(n)]
    rng = random.Random(7)
    offsets = sorted(rng.uniform(0, window) for _ in range(n))
    started = time.perf_counter()
    durations: list[float] = []

    async def arrive(i: int, client: httpx.AsyncClient) -> Outcome:
        await asyncio.sleep(max(0.0, started + offsets[i] - time.perf_counter()))
        t0 = time.perf_counter()
        outcome = await annotate(
            client, f"/a/{study}/", f"burst-{i}", rng=random.Random(i), stop_after_consent=True
        )
        durations.append(time.perf_counter() - t0)
        return outcome

    try:
        outcomes = await asyncio.gather(*(arrive(i, c) for i, c in enumerate(clients)))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    statuses, errors = _statuses(outcomes)
    return {
        "arrivals": n,
        "window_s": window,
        "past_consent": sum(o.finished for o in outcomes),
        "busy_retries": sum(o.busy_retries for o in outcomes),
        "statuses": statuses,
        "errors": errors,
        "client_errors": Counter(o.error for o in outcomes if o.error).most_common(3),
        "arrival_to_instructions": percentiles(durations),
        "wall_s": round(time.perf_counter() - started, 2),
    }


# --- the invariants -------------------------------------------------------------------------


def invariants(study_names: list[str]) -> dict[str, dict[str, int]]:
    """The concurrency tests' invariant queries per study, as counts of violations."""
    import django

    django.setup()
    from django.db.models import Count, F

    from annotation.models import Assignment, Batch, BatchSlot, Judgment, Study

    report = {}
    for name in study_names:
        study = Study.objects.get(name=name)
        held = (
            BatchSlot.objects.filter(batch__study=study)
            .exclude(state="free")
            .values("batch")
            .annotate(n=Count("id"))
        )
        slots_of = dict(Batch.objects.filter(study=study).values_list("id", "slots"))
        active = Assignment.objects.filter(participant__study=study, status="active")
        report[name] = {
            "batches_over_their_slots": sum(1 for row in held if row["n"] > slots_of[row["batch"]]),
            "batches_over_overlap": sum(1 for s in slots_of.values() if s > study.overlap),
            "items_over_overlap": Judgment.objects.filter(study=study)
            .values("item")
            .annotate(n=Count("participant", distinct=True))
            .filter(n__gt=study.overlap)
            .count(),
            "double_leases": active.values("participant")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count(),
            "slots_leased_twice": active.values("slot")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count(),
            "duplicate_judgments": Judgment.objects.filter(study=study)
            .values("assignment", "entry")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count(),
            "judgments_on_foreign_slots": Judgment.objects.filter(study=study)
            .exclude(slot__batch=F("batch"))
            .count(),
            "judgments": Judgment.objects.filter(study=study).count(),
        }
    return report


# --- main -----------------------------------------------------------------------------------


def _ratio(annotators: dict, bare: dict) -> float | None:
    if not bare["writes_per_s"]:
        return None
    return round(annotators["submits_per_s"] / bare["writes_per_s"], 3)


def level_result(n: int, rounds: list[tuple[float | None, dict, dict]]) -> dict:
    """A level's figures: the median round's (by ratio; so its submits/s, writes/s and
    latencies are the ratio's), with every round's ratio and rates beside them."""
    ranked = sorted(rounds, key=lambda r: -1.0 if r[0] is None else r[0])
    ratio, annotators, bare = ranked[(len(ranked) - 1) // 2]
    return {
        "level": n,
        "ratio": ratio,
        "round_ratios": [r[0] for r in rounds],
        "round_rates": [
            {"submits_per_s": a["submits_per_s"], "bare_writes_per_s": b["writes_per_s"]}
            for _, a, b in rounds
        ],
        "errors_in_any_round": any(a["errors"] or b["errors"] for _, a, b in rounds),
        "annotators": annotators,
        "bare": bare,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="50,100,200", help="concurrent annotators per level")
    parser.add_argument("--burst", type=int, default=500, help="arrivals in the burst (0: none)")
    parser.add_argument("--burst-window", type=float, default=1.0, help="seconds they arrive in")
    parser.add_argument("--bare-writes", type=int, default=BATCH, help="POSTs per bare client")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="annotators-then-bare rounds per level (the level's ratio: their median)",
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--no-gate",
        action="store_true",
        help="let submits start while others still arrive (submits/s then mixes in arrivals)",
    )
    parser.add_argument("--postgres", default=default_admin_url(), help="admin database URL")
    parser.add_argument("--timeout", type=float, default=120.0, help="per-request timeout (s)")
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="NAME=VALUE", help="for the server"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="evalsite-bench-serving-"))
    log = workdir / "server.log"
    with scratch_database(args.postgres) as db_url:
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE bench_write (id bigserial PRIMARY KEY, client text, written_at timestamptz)"
            )
        env = dict(
            os.environ,
            DATABASE_URL=db_url,
            EVALSITE_DEMO="1",
            DJANGO_SETTINGS_MODULE="evalsite.settings",
            EVALSITE_ENTRY_RATE_PER_IP="off",
            EVALSITE_REGISTRATION_RATE_PER_IP="off",
        )
        manage(env, "migrate", "--noinput", "-v0")
        # one study per level and round: every round's annotators arrive new
        studies = {(n, r): f"bench-{n}-r{r}" for n in levels for r in range(args.rounds)}
        manage(env, "create_study", str(write_study(workdir / "warmup", "bench-warmup", WARMUP)))
        for (n, _), name in studies.items():
            manage(env, "create_study", str(write_study(workdir / name, name, n)))
        if args.burst:
            manage(
                env, "create_study", str(write_study(workdir / "burst", "bench-burst", args.burst))
            )
        server_env = dict(env, DJANGO_SETTINGS_MODULE="bench.serving_settings")
        server_env.update(kv.split("=", 1) for kv in args.server_env)
        runs, burst = [], None
        with production_server(server_env, args.workers, log) as (base, group):
            # Warm-up, not measured: every worker's first requests load templates and code.
            asyncio.run(drive_annotators(base, "bench-warmup", WARMUP, args.timeout, seed=0))
            asyncio.run(drive_bare(base, WARMUP, args.bare_writes, args.timeout))
            for n in levels:
                rounds = []
                for r in range(args.rounds):
                    annotators = asyncio.run(
                        drive_annotators(
                            base,
                            studies[(n, r)],
                            n,
                            args.timeout,
                            seed=n + r,
                            gated=not args.no_gate,
                            server_group=group,
                        )
                    )
                    bare = asyncio.run(drive_bare(base, n, args.bare_writes, args.timeout, group))
                    rounds.append((_ratio(annotators, bare), annotators, bare))
                runs.append(level_result(n, rounds))
            if args.burst:
                burst = asyncio.run(
                    drive_burst(base, "bench-burst", args.burst, args.burst_window, args.timeout)
                )
        os.environ.update(DATABASE_URL=db_url, EVALSITE_DEMO="1", EVALSITE_DB_POOL="0")
        os.environ["DJANGO_SETTINGS_MODULE"] = "evalsite.settings"
        checks = invariants(list(studies.values()) + (["bench-burst"] if args.burst else []))
    failed = any(r["errors_in_any_round"] for r in runs) or bool(burst and burst["errors"])
    return {
        "bench": "serving",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load generator on the same machine",
        "python": platform.python_version(),
        "server": " ".join(["uvicorn", *server_command(0, args.workers)[4:]]).replace(
            "--port 0", "--port PORT"
        ),
        "server_env": args.server_env,
        "channel_layer": "redis" if os.environ.get("CHANNEL_LAYER_URL") else "in-memory",
        "levels": runs,
        "burst": burst,
        "invariants": checks,
        "invariants_ok": all(
            v == 0 for c in checks.values() for k, v in c.items() if k != "judgments"
        ),
        "server_log_tail": log.read_text(errors="replace")[-2000:] if failed else "",
    }


if __name__ == "__main__":
    print(json.dumps(main()))
