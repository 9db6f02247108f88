"""The CUDA path on tiny models, for a machine with a GPU (skipped without one): the static
cache and the captured CUDA graph give the tokens of the dynamic path and of HF `generate`,
the self-check passes and the batches record "graph"; 4-bit loading and flash-attention run
when their packages are installed. Not yet run (no GPU in the sessions so far).

    .venv/bin/pytest -q tests/generation/test_backends_gpu.py
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from generation.backends import DecodingParameters, load_causal_system

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [
    pytest.mark.models,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
]

GREEDY = DecodingParameters(do_sample=False, max_new_tokens=12)
SAMPLE = DecodingParameters(do_sample=True, top_p=0.9, max_new_tokens=12, seed=4)
PROMPTS = [
    "I had a great day at the beach with my family.",
    "Hello",
    "My dog passed away last week and I miss him so much.",
    "What happened next?",
]


def ids(results):
    return [[g.token_ids for g in r] for r in results]


@pytest.mark.parametrize("fixture", ["tiny_gpt2", "tiny_mistral"])
def test_cuda_graph_equals_dynamic_and_generate_in_float32(request, fixture):
    path = request.getfixturevalue(fixture)
    graph = load_causal_system(path, device="cuda", dtype="float32")
    dynamic = load_causal_system(path, device="cuda", dtype="float32", static_cache=False)
    got = graph.generate(PROMPTS, GREEDY, batch_size=4)
    assert graph.describe()["graph_check"] == "passed"
    assert {g.decode_mode for r in got for g in r} == {"graph"}
    assert ids(got) == ids(dynamic.generate(PROMPTS, GREEDY, batch_size=4))
    assert ids(got) == ids(dynamic.generate(PROMPTS, GREEDY, batch_size=4, backend="hf_generate"))
    sampled = graph.generate(PROMPTS, SAMPLE, batch_size=2)
    assert ids(sampled) == ids(dynamic.generate(PROMPTS, SAMPLE, batch_size=2))
    assert graph.stepper.graph_captures >= 1


def test_a_replayed_graph_equals_the_same_static_step_run_eagerly_in_bf16(tiny_mistral):
    graph = load_causal_system(tiny_mistral, device="cuda", dtype="bfloat16")
    static = load_causal_system(tiny_mistral, device="cuda", dtype="bfloat16", cuda_graph=False)
    assert ids(graph.generate(PROMPTS, GREEDY)) == ids(static.generate(PROMPTS, GREEDY))
    assert graph.describe()["decode_modes_used"] == ["graph"]


@pytest.mark.skipif(not importlib.util.find_spec("bitsandbytes"), reason="needs bitsandbytes")
def test_4bit_loading_generates(tiny_mistral):
    system = load_causal_system(tiny_mistral, device="cuda", quantization="4bit")
    [[g]] = system.generate(PROMPTS[:1], GREEDY)
    assert g.new_tokens >= 1 and system.describe()["quantization"] == "4bit"
    assert system.stepper.use_static is False  # quantised: the dynamic cache by default


@pytest.mark.skipif(not importlib.util.find_spec("flash_attn"), reason="needs flash-attn")
def test_flash_attention_2_generates(tiny_mistral):
    system = load_causal_system(
        tiny_mistral, device="cuda", dtype="bfloat16", attn_implementation="flash_attention_2"
    )
    [[g]] = system.generate(PROMPTS[:1], GREEDY)
    assert g.new_tokens >= 1 and system.describe()["attn_implementation"] == "flash_attention_2"
