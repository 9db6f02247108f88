"""Every command the README shows runs, as written, in order, on a new database.

The commands are read from the README's ```bash blocks (a line ending in a backslash goes
on on the next line; `#` starts a comment). Each `.venv/bin/python manage.py …` line runs as
a subprocess, in the README's order, in a scratch folder that holds links to this checkout's
`manage.py`, `examples/` and `.venv/`, with `DATABASE_URL` pointing at a new SQLite file and
no broker (tasks in-process): as on a fresh checkout after `./scripts/demo.sh` made `.venv/`,
except that the output files (judgments.csv, results/) land in the scratch folder.

One substitution: the model folders the README names (`/models/…`) are replaced by tiny models
built here (tests/generation/tiny_models.py), since no checkpoint can be downloaded.

A README command that is neither a `manage.py` command nor on ELSEWHERE (commands exercised
by other tests, each named with the test that runs it) fails the test, and so does a
`manage.py` command written outside a bash block (inline code is not run).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MANAGE = [".venv/bin/python", "manage.py"]

# Commands not run here, and the test (file, and a string it holds) that runs each of them.
ELSEWHERE = [
    # The test session sets it for itself and every process it starts (tests/settings.py).
    (r"export EVALSITE_DEMO=1", "tests/settings.py", 'os.environ.setdefault("EVALSITE_DEMO", "1")'),
    (r"\./scripts/demo\.sh", "tests/test_demo_script.py", "scripts/demo.sh"),
    (r"\./scripts/test\.sh", "tests/test_test_script.py", "scripts/test.sh"),
    # scripts/test.sh installs requirements-test.txt: the project with the "generation" extra,
    # which is all requirements-generation.txt installs, and the "test" extra.
    (
        r"\.venv/bin/python -m pip install -r requirements-generation\.txt",
        "requirements-test.txt",
        "-e .[generation,test]",
    ),
    (
        r"\.venv/bin/daphne -b \S+ -p \d+ evalsite\.asgi:application",
        "tests/live_server.py",
        '"evalsite.asgi:application"',
    ),
    (
        r"\.venv/bin/uvicorn evalsite\.asgi:application --host \S+ --port \d+ --workers \d+"
        r" --lifespan off --no-access-log",
        "tests/live_server.py",
        '"uvicorn", "evalsite.asgi:application", "--host"',
    ),
    (
        r"\.venv/bin/celery -A evalsite worker -Q gpu --concurrency 1",
        "tests/generation/test_celery_worker.py",
        '"celery", "-A", "evalsite", "worker", "-Q", "gpu',
    ),
    (
        # the default queue (the results page's analyses): the same worker, both queues
        r"\.venv/bin/celery -A evalsite worker -Q celery --concurrency 2",
        "tests/generation/test_celery_worker.py",
        '"gpu,celery"',
    ),
]

# What a command must print, where the README promises it (a later command relies on it).
EXPECTED_OUTPUT = {
    "create_study": "created study 'first-study'",
    "generate --system": "created job 1",
    "import_dataset real_toxicity_prompts": "skipped 1 rows",
}

MODEL_FOLDERS = (
    "/models/zephyr",
    "/models/sft",
    "/models/gpt2-large",
    "/models/expert",
    "/models/anti-expert",
)


def readme_commands(text: str) -> list[str]:
    """The commands of the README's bash blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def inline_manage_commands(text: str) -> list[str]:
    """`manage.py` commands written outside the bash blocks (in inline code)."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return [span for span in re.findall(r"`([^`\n]+)`", prose) if "manage.py " in span]


def elsewhere(command: str) -> tuple[str, str] | None:
    for pattern, where, needle in ELSEWHERE:
        if re.fullmatch(pattern, command):
            return where, needle
    return None


def test_the_readme_has_commands_and_none_hides_in_prose():
    text = README.read_text(encoding="utf-8")
    commands = readme_commands(text)
    assert len([c for c in commands if c.startswith(" ".join(MANAGE))]) >= 15
    assert inline_manage_commands(text) == [], (
        "put manage.py commands in a bash block, where they are tested"
    )


def test_every_command_not_run_here_is_run_by_the_test_named_for_it():
    uncovered = []
    for command in readme_commands(README.read_text(encoding="utf-8")):
        if shlex.split(command)[:2] == MANAGE:
            continue
        found = elsewhere(command)
        if found is None:
            uncovered.append(command)
            continue
        where, needle = found
        # Layout-blind (ruff format may wrap an argument list one item a line).
        squash = lambda text: re.sub(r"[\s,]+", "", text)  # noqa: E731
        assert squash(needle) in squash((ROOT / where).read_text(encoding="utf-8")), (
            f"{where} no longer runs {command!r}"
        )
    assert uncovered == [], (
        "README commands that no test runs (run them here or add them to ELSEWHERE)"
    )


@pytest.fixture(scope="module")
def model_folders(tmp_path_factory) -> dict[str, str]:
    """The README's model folders as tiny models: a chat GPT-2 with a LoRA adapter, and a
    DExperts trio sharing one tokenizer (room for 64 new tokens after a dialogue prompt)."""
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    import torch

    from tests.generation.tiny_models import ZEPHYR_STYLE_TEMPLATE, build_gpt2, build_lora_adapter

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("readme-models")
        zephyr = build_gpt2(root / "zephyr", chat_template=ZEPHYR_STYLE_TEMPLATE, n_positions=512)
        folders = {
            "/models/zephyr": zephyr,
            "/models/sft": build_lora_adapter(zephyr, root / "sft"),
            "/models/gpt2-large": build_gpt2(root / "base", n_positions=512),
            "/models/expert": build_gpt2(root / "expert", seed=11, n_positions=512),
            "/models/anti-expert": build_gpt2(
                root / "anti", seed=12, n_positions=512, save_tokenizer=False
            ),
        }
    finally:
        torch.set_num_threads(threads)
    assert set(folders) == set(MODEL_FOLDERS)
    return {k: str(v) for k, v in folders.items()}


def _scratch_checkout(tmp_path: Path) -> Path:
    work = tmp_path / "checkout"
    work.mkdir()
    for name in ("manage.py", "examples", ".venv"):
        (work / name).symlink_to(ROOT / name)
    return work


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST_", "DJANGO_", "CELERY_", "CHANNEL_"))
        and k not in ("DATABASE_URL", "EVALSITE_VAR_DIR")
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'new.sqlite3'}",
        EVALSITE_VAR_DIR=str(tmp_path / "var"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
    )
    (tmp_path / "var").mkdir()
    return env


def _with_models(words: list[str], folders: dict[str, str]) -> list[str]:
    unknown = [w for w in words if w.startswith("/models/") and w not in folders]
    assert not unknown, f"a model folder the test does not build: {unknown}"
    return [folders.get(w, w) for w in words]


@pytest.mark.models
@pytest.mark.filterwarnings(
    "ignore:.*is_gradient_checkpointing.*:FutureWarning"
)  # building the adapter
def test_every_readme_command_runs_on_a_new_database(tmp_path, model_folders):
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip(
            "the README's commands run .venv/bin/python (made by scripts/demo.sh or scripts/test.sh)"
        )
    work, env = _scratch_checkout(tmp_path), _env(tmp_path)
    commands = [
        c
        for c in readme_commands(README.read_text(encoding="utf-8"))
        if shlex.split(c)[:2] == MANAGE
    ]
    assert any("create_study" in c for c in commands) and any("generate" in c for c in commands)
    timings = []
    for command in commands:
        words = _with_models(shlex.split(command), model_folders)
        started = time.monotonic()
        done = subprocess.run(words, cwd=work, env=env, capture_output=True, text=True, timeout=300)
        timings.append((round(time.monotonic() - started, 1), command))
        assert done.returncode == 0, (
            f"README command failed (status {done.returncode}): {command}\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
        )
        for start, expected in EXPECTED_OUTPUT.items():
            if command.startswith(f"{' '.join(MANAGE)} {start}"):
                assert expected in done.stdout, (
                    f"{command}: expected {expected!r} in\n{done.stdout}"
                )
    print("\n".join(f"{seconds:6.1f} s  {command}" for seconds, command in timings))
    # What the README says these commands leave behind.
    assert (work / "judgments.csv").is_file() and (work / "judgments.jsonl").is_file()
    assert (work / "results" / "report.md").is_file()
