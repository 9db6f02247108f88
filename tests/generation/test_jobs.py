"""Generation jobs in-process (Celery eager): idempotent chunks, resume after a crash,
cancellation, out-of-memory halving, provenance, progress, the `generate` command.

Tiny GPT-2 / T5 models from tiny_models.py; the loaded systems stay warm in
`generation.worker.SYSTEM_CACHE` across tests, as they do across tasks in a worker.
"""

from __future__ import annotations

import io
import re

import pytest
import torch
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.management import call_command
from django.core.management.base import CommandError

from generation import selectors, services, worker
from generation.models import Candidate, Context, Dataset, GenerationJob, System
from generation.progress import listen, progress_group
from generation.services import register_system
from generation.tasks import generate_chunk

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.models,
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
]

DECODING = {"max_new_tokens": 6, "min_new_tokens": 2, "do_sample": True, "top_p": 0.9, "seed": 3}
TEXTS = [
    "I had a great day at the beach with my family.",
    "My dog passed away last week and I miss him so much.",
    "I was so scared when the lights went out during the storm.",
    "We finally bought a house after saving for years.",
    "I failed my driving test again today.",
    "What happened next? Did you talk to your boss?",
    "It is normal to feel nervous before a big interview.",
]


@pytest.fixture
def contexts(db) -> list[Context]:
    dataset = Dataset.objects.create(name="jobs-ds", format="jsonl")
    rows = []
    for i, text in enumerate(TEXTS):
        turns = [{"speaker": "Speaker", "text": text}]
        if i % 2:
            turns += [
                {"speaker": "Listener", "text": "Oh no."},
                {"speaker": "Speaker", "text": "Yes, really."},
            ]
        rows.append(Context(dataset=dataset, external_id=f"c{i}", turns=turns))
    Context.objects.bulk_create(rows)
    return list(Context.objects.filter(dataset=dataset).order_by("pk"))


@pytest.fixture
def gpt2_system(tiny_gpt2) -> System:
    return register_system(
        "tiny-gpt2",
        "hf_causal",
        {"path": str(tiny_gpt2), "device": "cpu", "chat_template": False, "decoding": DECODING},
    )


def loaded(job: GenerationJob):
    """The warm system a worker in this process uses for `job`."""
    return worker.SYSTEM_CACHE.get(job.backend_spec)


class ForwardHook:
    """A forward pre-hook on a loaded model: records the rows of each prefill (prompt) forward
    and can raise on chosen ones, as a real device would run out of memory or a worker die."""

    def __init__(self, model, fail=None):
        self.model, self.fail, self.prefills = model, fail, []

    def __call__(self, module, args, kwargs):
        ids = kwargs.get("input_ids")
        if ids is None or ids.shape[1] == 1:
            return None  # a decoding step, not a prefill
        self.prefills.append(int(ids.shape[0]))
        if self.fail is not None:
            exc = self.fail(len(self.prefills), int(ids.shape[0]))
            if exc is not None:
                raise exc
        return None

    def __enter__(self):
        self.handle = self.model.register_forward_pre_hook(self, with_kwargs=True)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def keys_of(job: GenerationJob) -> list[str]:
    return sorted(Candidate.objects.filter(generation_job=job).values_list("source_key", flat=True))


def expected_keys(job: GenerationJob, contexts) -> list[str]:
    return sorted(
        f"job:{job.pk}:{c.pk}:{s}" for c in contexts for s in range(job.samples_per_context)
    )


# ---------------------------------------------------------------------------------------------


def test_job_stores_one_candidate_per_key_with_full_provenance(gpt2_system, contexts):
    job = services.create_job(
        gpt2_system, contexts, samples_per_context=2, chunk_size=3, batch_size=4
    )
    assert job.status == "pending" and selectors.job_progress(job).as_dict()["done"] == 0
    task_ids = services.dispatch_job(job)
    job.refresh_from_db()
    assert len(task_ids) == 3 and job.celery_task_ids == task_ids  # 7 contexts in chunks of 3
    assert job.status == "completed" and job.started_at and job.finished_at and not job.error
    assert keys_of(job) == expected_keys(job, contexts)
    progress = selectors.job_progress(job)
    assert (progress.done, progress.total, progress.status) == (14, 14, "completed")

    system = loaded(job)
    for cand in Candidate.objects.filter(generation_job=job).select_related("context"):
        p = cand.provenance
        turns = [(t["speaker"], t["text"]) for t in cand.context.turns]
        assert p["rendered_prompt"] == system.render_prompt(turns)
        assert p["rendered_prompt"].endswith("Listener:")
        assert p["decoding"] == {**job.decoding, "num_return_sequences": 2}
        assert p["decoding"]["max_new_tokens"] == 6 and p["decoding"]["seed"] == 3
        assert isinstance(p["seed"], int) and isinstance(p["prompt_seed"], int)
        assert p["prompt_tokens"] > 0 and 2 <= p["new_tokens"] <= 6
        assert p["seconds"] >= 0 and p["batch_seconds"] >= p["seconds"]
        assert (
            p["backend_version"].startswith("hf_causal/1 transformers ")
            and " torch " in p["backend_version"]
        )
        assert p["finish_reason"] in ("eos", "length", "stop_sequence")
        assert p["model"]["path"] == gpt2_system.config["path"] and p["model"]["device"] == "cpu"
        assert p["job"] == job.pk and p["sample_index"] == cand.sample_index
        assert cand.system_id == gpt2_system.pk
    # Samples of one context have their own seeds.
    seeds = Candidate.objects.filter(generation_job=job).values_list(
        "context_id", "provenance__seed"
    )
    assert len({s for _, s in seeds}) == 14


def test_the_same_chunk_run_twice_stores_one_candidate_per_key(gpt2_system, contexts, monkeypatch):
    job = services.create_job(gpt2_system, contexts, chunk_size=4, batch_size=4)
    chunk = selectors.chunks_of(job)[0]
    first = generate_chunk.apply(args=(job.pk, chunk, str(job.token))).get()
    assert first["generated_contexts"] == 4
    before = dict(Candidate.objects.filter(generation_job=job).values_list("source_key", "text"))
    # Run twice: the second run finds every key stored and generates nothing ...
    again = generate_chunk.apply(args=(job.pk, chunk, str(job.token))).get()
    assert again["generated_contexts"] == 0
    # ... and a twin that ran concurrently (it saw nothing stored yet) generates everything
    # again, but its conflicting inserts are ignored: the first write stays.
    monkeypatch.setattr(worker, "stored_counts", lambda job_id, ids=None: {})
    twin = worker.run_chunk(job.pk, chunk, str(job.token))
    assert twin["generated_contexts"] == 4
    after = dict(Candidate.objects.filter(generation_job=job).values_list("source_key", "text"))
    assert after == before and len(after) == 4
    assert Candidate.objects.filter(generation_job=job).count() == 4


def test_a_chunk_killed_midway_is_completed_by_resume(gpt2_system, contexts):
    job = services.create_job(gpt2_system, contexts, chunk_size=4, batch_size=2)
    # The chunk dies on its second sub-batch, after the first one was stored.
    with ForwardHook(
        loaded(job).model, fail=lambda n, rows: RuntimeError("worker killed") if n == 2 else None
    ):
        with pytest.raises(RuntimeError, match="worker killed"):
            services.dispatch_job(job)
    job.refresh_from_db()
    stored = dict(Candidate.objects.filter(generation_job=job).values_list("source_key", "text"))
    assert len(stored) == 2 and job.status == "failed" and "worker killed" in job.error
    assert selectors.missing_chunks(job) == selectors.chunks_of(job)  # both chunks still miss keys

    with ForwardHook(loaded(job).model) as hook:
        task_ids = services.resume_job(job)
    job.refresh_from_db()
    assert job.status == "completed" and job.error == "" and len(task_ids) == 2
    assert sum(hook.prefills) == len(contexts) - 2  # only the missing contexts were generated
    assert keys_of(job) == expected_keys(job, contexts)
    assert Candidate.objects.filter(generation_job=job).count() == len(contexts)
    after = dict(Candidate.objects.filter(generation_job=job).values_list("source_key", "text"))
    assert all(after[k] == v for k, v in stored.items())  # what was stored before stays
    assert services.resume_job(job) == []  # nothing left to do


def test_cancel_stops_the_job_between_sub_batches_and_chunks(gpt2_system, contexts):
    job = services.create_job(gpt2_system, contexts, chunk_size=3, batch_size=1)
    seen = []

    def cancel_after_first(progress):
        seen.append(progress.done)
        if progress.done >= 1 and progress.status == "running":
            services.cancel_job(job)

    with ForwardHook(loaded(job).model) as hook, listen(cancel_after_first):
        services.dispatch_job(job)  # eager: the chunks run here
    job.refresh_from_db()
    assert job.status == "cancelled" and job.finished_at is not None
    assert Candidate.objects.filter(generation_job=job).count() == 1
    assert len(hook.prefills) == 1  # no sub-batch and no later chunk started after the cancel
    # A chunk that arrives later does nothing.
    late = worker.run_chunk(job.pk, selectors.chunks_of(job)[1], str(job.token))
    assert late["skipped"] == "cancelled"
    with pytest.raises(selectors.JobError, match="cancelled"):
        services.dispatch_job(job)
    services.resume_job(job)  # the researcher changed their mind
    job.refresh_from_db()
    assert job.status == "completed" and keys_of(job) == expected_keys(job, contexts)


def test_out_of_memory_halves_the_batch_and_completes(gpt2_system, contexts):
    job = services.create_job(gpt2_system, contexts, chunk_size=8, batch_size=8)

    def oom_above_four(n, rows):
        return torch.OutOfMemoryError("CUDA out of memory (injected)") if rows > 4 else None

    with ForwardHook(loaded(job).model, fail=oom_above_four) as hook:
        services.dispatch_job(job)
    job.refresh_from_db()
    assert hook.prefills[0] == 7  # all 7 contexts in one batch: out of memory
    assert hook.prefills[1:] == [3, 3, 1]  # halved, and the smaller size kept
    assert job.status == "completed" and keys_of(job) == expected_keys(job, contexts)


def test_out_of_memory_with_one_sequence_fails_the_job_clearly(gpt2_system, contexts):
    job = services.create_job(gpt2_system, contexts[:2], chunk_size=2, batch_size=2)
    with ForwardHook(loaded(job).model, fail=lambda n, rows: torch.OutOfMemoryError("injected")):
        with pytest.raises(Exception, match="does not fit"):
            services.dispatch_job(job)
    job.refresh_from_db()
    assert job.status == "failed" and job.error.startswith("out of memory even with one sequence")
    assert Candidate.objects.filter(generation_job=job).count() == 0


def test_progress_goes_to_the_task_state_and_the_channel_group(gpt2_system, contexts, monkeypatch):
    job = services.create_job(gpt2_system, contexts[:4], chunk_size=2, batch_size=1)
    states = []
    monkeypatch.setattr(generate_chunk, "update_state", lambda **kw: states.append(kw))
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(progress_group(job.pk), channel)
    services.dispatch_job(job)
    metas = [s["meta"] for s in states]
    assert all(s["state"] == "PROGRESS" for s in states)
    assert [m["done"] for m in metas] == sorted(m["done"] for m in metas) and metas[-1]["done"] == 4
    assert {m["total"] for m in metas} == {4} and {m["job"] for m in metas} == {job.pk}
    events = []
    for _ in range(len(metas)):
        events.append(async_to_sync(layer.receive)(channel))
    assert events[-1] == {
        "type": "generation.progress",
        "job": job.pk,
        "status": "completed",
        "done": 4,
        "total": 4,
        "error": "",
    }


def test_progress_publishing_never_fails_the_task(gpt2_system, contexts, monkeypatch):
    def broken(*a, **kw):
        raise ConnectionError("channel layer down")

    monkeypatch.setattr("channels.layers.get_channel_layer", broken)
    job = services.create_job(gpt2_system, contexts[:2])
    services.dispatch_job(job)
    job.refresh_from_db()
    assert job.status == "completed"


def test_a_worker_keeps_the_system_warm_across_tasks(gpt2_system, contexts):
    first = services.create_job(gpt2_system, contexts[:3], chunk_size=1)
    services.dispatch_job(first)
    loads = worker.SYSTEM_CACHE.loads
    second = services.create_job(gpt2_system, contexts, chunk_size=2, decoding={"seed": 9})
    results = [
        generate_chunk.apply(args=(second.pk, c, str(second.token))).get()
        for c in selectors.chunks_of(second)
    ]
    assert worker.SYSTEM_CACHE.loads == loads and not any(r["loaded_system"] for r in results)
    second.refresh_from_db()
    assert second.status == "completed"


def test_chunks_of_unknown_jobs_are_ignored(gpt2_system, contexts):
    job = services.create_job(gpt2_system, contexts[:2])
    assert (
        worker.run_chunk(job.pk + 1000, [contexts[0].pk], str(job.token))["skipped"]
        == "unknown job"
    )
    # Same id, other database (a stale message): the token does not match.
    assert worker.run_chunk(job.pk, [contexts[0].pk], "not-the-token")["skipped"] == "unknown job"
    # Contexts that are not the job's are not generated.
    other = Context.objects.create(
        dataset=contexts[0].dataset,
        external_id="other",
        turns=[{"speaker": "Speaker", "text": "Hello"}],
    )
    worker.run_chunk(job.pk, [other.pk], str(job.token))
    assert Candidate.objects.count() == 0


def test_create_job_refuses_bad_requests(gpt2_system, contexts):
    ref = System.objects.create(name="human", kind="reference")
    with pytest.raises(selectors.JobError, match="not generated"):
        services.create_job(ref, contexts)
    with pytest.raises(selectors.JobError, match="at least one context"):
        services.create_job(gpt2_system, [])
    with pytest.raises(selectors.JobError, match="top_p must be in"):
        services.create_job(gpt2_system, contexts, decoding={"top_p": 2.0})
    with pytest.raises(selectors.JobError, match="unknown decoding parameter"):
        services.create_job(gpt2_system, contexts, decoding={"beams": 2})
    other = Dataset.objects.create(name="other", format="jsonl")
    stray = Context.objects.create(
        dataset=other, external_id="x", turns=[{"speaker": "S", "text": "hi"}]
    )
    with pytest.raises(selectors.JobError, match="one dataset"):
        services.create_job(gpt2_system, [*contexts, stray])
    assert GenerationJob.objects.count() == 0


def test_seq2seq_and_dexperts_jobs(
    tiny_t5, tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert, contexts
):
    t5 = register_system(
        "tiny-t5",
        "hf_seq2seq",
        {"path": str(tiny_t5), "device": "cpu", "max_new_tokens": 4, "do_sample": False},
    )
    dx = register_system(
        "tiny-dx",
        "dexperts",
        {
            "base": str(tiny_gpt2),
            "expert": str(tiny_gpt2_expert),
            "antiexpert": str(tiny_gpt2_antiexpert),
            "alpha": 2.0,
            "device": "cpu",
            "max_new_tokens": 4,
            "min_new_tokens": 1,
        },
    )
    for system, backend in ((t5, "seq2seq"), (dx, "dexperts")):
        job = services.create_job(
            system, contexts[:3], samples_per_context=2 if backend == "dexperts" else 1
        )
        services.dispatch_job(job)
        job.refresh_from_db()
        assert job.status == "completed", job.error
        cand = Candidate.objects.filter(generation_job=job).first()
        assert cand.provenance["backend"] == backend
    assert cand.provenance["variant"] == "alpha=2;base_top_p=0.9"


# ---------------------------------------------------------------------------------------------
# python manage.py generate


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("generate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_generate_command_creates_runs_resumes_and_cancels(gpt2_system, contexts):
    out, err = run(
        "--system",
        "tiny-gpt2",
        "--dataset",
        "jobs-ds",
        "--limit",
        "5",
        "--set",
        "max_new_tokens=4",
        "--chunk-size",
        "2",
    )
    job = GenerationJob.objects.get()
    assert f"created job {job.pk}" in out and f"job {job.pk} completed: 5/5 candidates" in out
    assert f"job {job.pk}" in err and "5/5" in err  # the tqdm bar
    assert job.decoding["max_new_tokens"] == 4 and job.decoding["top_p"] == 0.9
    assert run(str(job.pk))[0].strip() == f"job {job.pk} completed: 5/5 candidates"

    Candidate.objects.filter(generation_job=job, context__external_id__in=["c1", "c3"]).delete()
    GenerationJob.objects.filter(pk=job.pk).update(status="running")  # as if a worker died
    out, _ = run(str(job.pk), "--resume")
    assert f"job {job.pk} completed: 5/5 candidates" in out

    pending = services.create_job(gpt2_system, contexts)
    out, _ = run("--cancel", str(pending.pk))
    assert out.strip() == f"job {pending.pk} cancelled (0/7 candidates stored)"
    with pytest.raises(CommandError, match=r"cancelled.*--resume restarts it"):
        run(str(pending.pk))
    out, _ = run(str(pending.pk), "--resume")
    assert f"job {pending.pk} completed: 7/7" in out


def test_generate_command_errors_name_the_problem(gpt2_system, contexts):
    with pytest.raises(CommandError, match="no generation job 999"):
        run("999")
    with pytest.raises(CommandError, match="--system: no system named 'nope'"):
        run("--system", "nope", "--dataset", "jobs-ds")
    with pytest.raises(CommandError, match="--contexts: not in dataset 'jobs-ds': zz"):
        run("--system", "tiny-gpt2", "--dataset", "jobs-ds", "--contexts", "c1", "zz")
    with pytest.raises(CommandError, match="top_p must be in"):
        run("--system", "tiny-gpt2", "--dataset", "jobs-ds", "--set", "top_p=3")
    job = services.create_job(gpt2_system, contexts[:2])
    with ForwardHook(loaded(job).model, fail=lambda n, rows: RuntimeError("disk on fire")):
        with pytest.raises(CommandError) as error:
            run(str(job.pk))
    assert re.search(
        rf"job {job.pk} failed: RuntimeError: disk on fire .*generate {job.pk} --resume",
        str(error.value),
    )


def test_nul_characters_in_generated_text_are_stored_replaced(gpt2_system, contexts, monkeypatch):
    """Byte-level tokenizers can decode to "\\x00", which PostgreSQL text cannot hold."""
    import dataclasses

    job = services.create_job(gpt2_system, contexts[:2])
    system = loaded(job)
    real = system.generate

    def with_nul(*args, **kwargs):
        return [
            [dataclasses.replace(g, text="a\x00b\x00") for g in per]
            for per in real(*args, **kwargs)
        ]

    monkeypatch.setattr(system, "generate", with_nul)
    services.dispatch_job(job)
    cand = Candidate.objects.filter(generation_job=job).first()
    assert cand.text == "a\ufffdb\ufffd" and cand.provenance["nul_characters_replaced"] == 2
    assert cand.provenance["token_ids"]  # the exact output


def test_samples_depend_on_the_context_not_on_the_chunking(gpt2_system, contexts):
    """Seeds come from (decoding seed, context external id): another chunking, batch size or
    resume gives the same candidates."""
    small = services.create_job(gpt2_system, contexts, chunk_size=2, batch_size=1)
    big = services.create_job(gpt2_system, list(reversed(contexts)), chunk_size=7, batch_size=8)
    services.dispatch_job(small)
    services.dispatch_job(big)

    def texts(job):
        return {
            (c, s): (t, seed)
            for c, s, t, seed in Candidate.objects.filter(generation_job=job).values_list(
                "context_id", "sample_index", "text", "provenance__seed"
            )
        }

    assert texts(small) == texts(big) and len(texts(small)) == 7


def test_admin_lists_jobs_with_progress_and_cancels_them(gpt2_system, contexts, admin_client):
    done = services.create_job(gpt2_system, contexts[:2])
    services.dispatch_job(done)
    pending = services.create_job(gpt2_system, contexts)
    page = admin_client.get("/admin/generation/generationjob/").content.decode()
    assert ">2/2<" in page and ">0/7<" in page
    assert (
        admin_client.get(f"/admin/generation/generationjob/{pending.pk}/change/").status_code == 200
    )
    response = admin_client.post(
        "/admin/generation/generationjob/",
        {"action": "cancel_jobs", "_selected_action": [pending.pk]},
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    done.refresh_from_db()
    assert pending.status == "cancelled" and done.status == "completed"
