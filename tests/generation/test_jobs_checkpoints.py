"""Jobs (Celery eager) and issue 13: independent random streams per system by default and
common random numbers as a recorded option; candidates record what prompt fitting dropped and
the decoding mode their batch really used (with the CUDA-graph self-check's fallback)."""

from __future__ import annotations

import pytest

from generation import services, worker
from generation.models import Candidate, Context, Dataset
from generation.services import register_system

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.models,
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
]

DECODING = {"max_new_tokens": 8, "do_sample": True, "top_p": 0.95, "seed": 3}
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
    dataset = Dataset.objects.create(name="streams-ds", format="jsonl")
    Context.objects.bulk_create(
        Context(dataset=dataset, external_id=f"c{i}", turns=[{"speaker": "Speaker", "text": t}])
        for i, t in enumerate(TEXTS)
    )
    return list(Context.objects.filter(dataset=dataset).order_by("pk"))


def run_job(name: str, path, contexts, **decoding) -> dict[str, dict]:
    """{context external id: provenance} of a completed job of a new system `name`."""
    config = {"path": str(path), "device": "cpu", "chat_template": False}
    system = register_system(name, "hf_causal", {**config, "decoding": {**DECODING, **decoding}})
    job = services.create_job(system, contexts, batch_size=4, chunk_size=4)
    services.dispatch_job(job)
    job.refresh_from_db()
    assert job.status == "completed", job.error
    rows = Candidate.objects.filter(generation_job=job).select_related("context")
    return {c.context.external_id: {**c.provenance, "text": c.text} for c in rows}


def test_systems_sampled_with_one_seed_draw_independent_streams_by_default(tiny_gpt2, contexts):
    a = run_job("copy-a", tiny_gpt2, contexts)
    b = run_job("copy-b", tiny_gpt2, contexts)  # the same model under another name
    assert all(a[c]["prompt_seed"] != b[c]["prompt_seed"] for c in a)
    differ = sum(a[c]["token_ids"] != b[c]["token_ids"] for c in a)
    assert differ >= 5  # one model, other random numbers: mostly other samples
    assert {p["random_streams"] for p in [*a.values(), *b.values()]} == {"per_system"}
    assert all(p["decoding"]["common_random_numbers"] is False for p in a.values())
    again = run_job("copy-a-again", tiny_gpt2, contexts)
    assert all(again[c]["prompt_seed"] != a[c]["prompt_seed"] for c in a)


def test_common_random_numbers_is_an_explicit_recorded_option(tiny_gpt2, contexts):
    a = run_job("crn-a", tiny_gpt2, contexts, common_random_numbers=True)
    b = run_job("crn-b", tiny_gpt2, contexts, common_random_numbers=True)
    assert all(a[c]["prompt_seed"] == b[c]["prompt_seed"] for c in a)
    assert all(a[c]["token_ids"] == b[c]["token_ids"] for c in a)  # one model, same numbers
    assert {p["random_streams"] for p in [*a.values(), *b.values()]} == {"common"}
    assert all(p["decoding"]["common_random_numbers"] is True for p in a.values())


def test_candidates_record_dropped_turns_and_the_mode_used(tiny_gpt2, db):
    dataset = Dataset.objects.create(name="long-ds", format="jsonl")
    turns = [
        {"speaker": "Speaker" if i % 2 == 0 else "Listener", "text": f"Turn {i}: {t}"}
        for i, t in enumerate(TEXTS)
    ]
    Context.objects.create(dataset=dataset, external_id="long", turns=turns)
    Context.objects.create(dataset=dataset, external_id="short", turns=turns[-1:])
    config = {
        "path": str(tiny_gpt2),
        "device": "cpu",
        "chat_template": False,
        "max_prompt_tokens": 100,
        "listener_label": "Friend",  # a spec of its own in the warm cache
        "decoding": DECODING,
    }
    system = register_system("short-prompts", "hf_causal", config)
    job = services.create_job(system, list(dataset.contexts.all()))
    loaded = worker.SYSTEM_CACHE.get(job.backend_spec)
    assert loaded.prompt_limit(8) == 100
    services.dispatch_job(job)
    job.refresh_from_db()
    assert job.status == "completed", job.error
    by_id = {
        c.context.external_id: c.provenance
        for c in Candidate.objects.filter(generation_job=job).select_related("context")
    }
    long, short = by_id["long"], by_id["short"]
    assert long["prompt_dropped_turns"] == 5 and long["prompt_tokens"] <= 100
    assert TEXTS[0] not in long["rendered_prompt"] and TEXTS[-1] in long["rendered_prompt"]
    assert short["prompt_dropped_turns"] == 0 and short["prompt_form"] == "plain"
    assert long["decode_mode"] == "dynamic" and long["graph_fallback"] == ""
    assert long["model"]["decode_modes_used"] == ["dynamic"]
    assert long["model"]["max_prompt_tokens"] == 100


def test_a_graph_fallback_is_recorded_in_the_candidates(tiny_gpt2, contexts, monkeypatch):
    from generation.backends import loop

    system = register_system(
        "graph-checked",
        "hf_causal",
        {
            "path": str(tiny_gpt2),
            "device": "cpu",
            "chat_template": False,
            "listener_label": "Pal",
            "decoding": DECODING,
        },
    )
    job = services.create_job(system, contexts, batch_size=4, chunk_size=4)
    loaded = worker.SYSTEM_CACHE.get(job.backend_spec)
    loaded.stepper = loop.CausalStepper(loaded.model, static_cache=True, cuda_graph="emulate")
    loaded._graph_check = None
    real_run = loop.CapturelessRunner.run

    def wrong_run(self):
        logits = real_run(self).clone()
        logits[..., 3] += 1000.0
        return logits

    monkeypatch.setattr(loop.CapturelessRunner, "run", wrong_run)
    try:
        services.dispatch_job(job)
    finally:
        worker.SYSTEM_CACHE.clear()
    job.refresh_from_db()
    assert job.status == "completed", job.error
    provenance = [c.provenance for c in Candidate.objects.filter(generation_job=job)]
    assert len(provenance) == len(contexts)
    for p in provenance:
        assert p["decode_mode"] == "dynamic" and "differed" in p["graph_fallback"]
        assert p["model"]["graph_check"] == "failed"
        assert p["model"]["decode_modes_used"] == ["dynamic"]


def test_a_job_stored_before_per_system_streams_keeps_common_ones_on_resume(tiny_gpt2, contexts):
    a = run_job("old-style", tiny_gpt2, contexts, common_random_numbers=True)
    system = register_system(
        "old-style-2",
        "hf_causal",
        {"path": str(tiny_gpt2), "device": "cpu", "chat_template": False, "decoding": DECODING},
    )
    job = services.create_job(system, contexts, batch_size=4, chunk_size=4)
    old_decoding = {k: v for k, v in job.decoding.items() if k != "common_random_numbers"}
    type(job).objects.filter(pk=job.pk).update(decoding=old_decoding)  # as stored before
    services.dispatch_job(job)
    rows = Candidate.objects.filter(generation_job=job).select_related("context")
    old = {c.context.external_id: c.provenance for c in rows}
    assert all(old[c]["prompt_seed"] == a[c]["prompt_seed"] for c in a)
    assert {p["random_streams"] for p in old.values()} == {"common"}
