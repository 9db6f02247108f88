"""How long each researcher page takes to load with a study of the EmPO size.

    .venv/bin/python bench/console_pages.py              # 5 loads a page
    .venv/bin/python bench/console_pages.py --loads 9

Prints one JSON object. In a scratch folder (SQLite, the embedded default: no broker, so
the analysis task runs in-process) it builds the study the EmPO-size measurement of
tests/console/test_results_page.py builds: 135 contexts x 5 systems (four imported, the
human reference) x 3 ratings = 2,025 judgments (four 0-100 sliders and a checkbox;
batches of 15 items in blocks of 5, latin square, the demo's attention check), judged
through the annotator services as tests/console/test_results_page.py::_judge does. Its
owner is a researcher who is not staff.

Each page is loaded ``--loads`` times through Django's test client (the whole middleware
stack, the session, the permission check, the template; no network and no browser
rendering), streamed responses read to the end; the JSON gives the median and the range
in milliseconds and the body size. The results page is measured three ways:

  results_pending     the page while a worker computes (a broker configured, the task sent
                      nowhere): what a researcher sees at once;
  results_first_visit the embedded default's first visit, the analysis computed inside the
                      request (measured once: a second visit is cached);
  results_cached      a visit once the results are kept (until the next judgment).

Nothing is asserted; the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYSTEMS = ["baseline", "sft", "dpo", "length"]
N_CONTEXTS = 135


def _setup(folder: Path) -> None:
    os.environ.setdefault("EVALSITE_DEMO", "1")
    os.environ["EVALSITE_VAR_DIR"] = str(folder / "var")
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "evalsite.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def empo_size_spec(folder: Path) -> Path:
    """The EmPO-size spec and its data files in ``folder`` (the shape of
    tests/console/test_results_page.py::test_measure_the_task_at_the_empo_size)."""
    examples = ROOT / "examples"
    rows = [json.loads(line) for line in (examples / "data/empathy_contexts.jsonl").open()]
    data = folder / "data"
    data.mkdir(parents=True)
    with (data / "contexts.jsonl").open("w") as out:
        for i in range(N_CONTEXTS):
            out.write(json.dumps(dict(rows[i % len(rows)], id=f"ctx-{i:03d}")) + "\n")
    for s, name in enumerate(SYSTEMS):
        with (data / f"{name}.jsonl").open("w") as out:
            for i in range(N_CONTEXTS):
                words = " ".join(["word"] * (5 + (7 * i + 11 * s) % 50))
                out.write(json.dumps({"context_id": f"ctx-{i:03d}", "response": words}) + "\n")
    spec = (examples / "demo_rating.yaml").read_text(encoding="utf-8")
    head, _, _ = spec.partition("systems:\n")
    _, _, tail = spec.partition("attention_checks:\n")
    imported = "".join(
        f"  - name: {n}\n    kind: imported\n    responses: data/{n}.jsonl\n" for n in SYSTEMS
    )
    spec = (
        head.replace("name: demo-empathy-rating", "name: empo-size")
        + "systems:\n"
        + imported
        + "  - name: human\n    kind: reference\n"
        + "contexts:\n  file: data/contexts.jsonl\n"
        + f"sampling:\n  n_contexts: {N_CONTEXTS}\n  seed: 7\n"
        + "design:\n  batch_size: 15\n  block_size: 5\n  overlap: 3\n  ordering: latin_square\n"
        + "attention_checks:\n"
        + tail
    )
    path = folder / "empo.yaml"
    path.write_text(spec, encoding="utf-8")
    return path


def judge_all(study) -> None:
    """Every batch judged by its own annotator, through the annotator services."""
    from annotation.assignment import request_work
    from annotation.services import get_or_create_participant, next_entry, record_judgment

    i = 0
    while True:
        participant = get_or_create_participant(study, f"P{i}", "prolific")
        assignment = request_work(participant).assignment
        if assignment is None:
            return
        done = 0
        while (entry := next_entry(assignment)) is not None:
            values = {
                d["key"]: (
                    (17 * i + 7 * entry.position + 3 * done) % 101
                    if d["type"] == "slider"
                    else (i + entry.position) % 3 != 0
                )
                for d in study.dimensions
            }
            record_judgment(
                participant,
                entry_id=entry.id,
                values=values,
                rationales={},
                idempotency_key=f"{i}-{entry.id}",
                time_on_item_ms=4000 + 100 * (i % 20),
            )
            assignment.refresh_from_db()
            done += 1
        i += 1


def _load(client, url: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    response = client.get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return time.perf_counter() - started, response.status_code, len(body)


def measure(client, url: str, loads: int) -> dict:
    runs = [_load(client, url) for _ in range(loads)]
    ms = [r[0] * 1000 for r in runs]
    return {
        "url": url,
        "status": sorted({r[1] for r in runs}),
        "median_ms": round(statistics.median(ms), 1),
        "min_ms": round(min(ms), 1),
        "max_ms": round(max(ms), 1),
        "loads": loads,
        "bytes": runs[-1][2],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loads", type=int, default=5, help="loads per page (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="console-pages-") as scratch:
        folder = Path(scratch)
        _setup(folder)
        from unittest import mock

        from django.contrib.auth import get_user_model
        from django.test import Client, override_settings

        from analysis import tasks
        from analysis.models import StudyResults
        from annotation.study_builder import build_study
        from console import access

        clock = time.perf_counter()
        study = build_study(empo_size_spec(folder)).study
        built_s = time.perf_counter() - clock
        clock = time.perf_counter()
        judge_all(study)
        judged_s = time.perf_counter() - clock
        owner = get_user_model().objects.create_user("rita", "rita@lab.org", "a-long-pw-123")
        access.study_created(owner, study)
        client = Client()
        client.force_login(owner)
        name = study.name
        real = study.judgments.filter(item__attention_check_id="").count()

        pages = {
            "studies": "/console/",
            "study": f"/console/{name}/",
            "progress_json": f"/console/{name}/progress.json",
            "editor": f"/console/{name}/edit/",
            "item_preview": f"/console/{name}/preview/1/",
            "members": f"/console/{name}/members/",
            "new_study": "/studies/new/",
            "datasets": "/datasets/",
            "judgments_csv": f"/console/{name}/judgments.csv",
        }
        out: dict = {}
        for key, url in pages.items():
            out[key] = measure(client, url, args.loads)

        results = f"/console/{name}/results/"
        # a broker configured: the page sends the task (here: nowhere) and says it computes
        with (
            override_settings(CELERY_TASK_ALWAYS_EAGER=False),
            mock.patch.object(tasks.compute_study_results, "apply_async"),
        ):
            out["results_pending"] = measure(client, results, args.loads)
        StudyResults.objects.all().delete()
        out["results_first_visit"] = measure(client, results, 1)
        out["results_cached"] = measure(client, results, args.loads)
        out["results_zip_cached"] = measure(client, f"/console/{name}/results.zip", args.loads)
        row = StudyResults.objects.order_by("-pk").first()
        print(
            json.dumps(
                {
                    "study": {
                        "judgments": real,
                        "attention_check_judgments": study.judgments.count() - real,
                        "build_s": round(built_s, 2),
                        "judging_s": round(judged_s, 2),
                        "task_s": round(row.seconds, 2) if row and row.seconds else None,
                    },
                    "pages": out,
                    "machine": {
                        "python": platform.python_version(),
                        "cpus": os.cpu_count(),
                        "load_average": [round(x, 2) for x in os.getloadavg()],
                        "database": "sqlite (embedded default, tasks in-process)",
                    },
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
