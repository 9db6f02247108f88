"""Issue 13, "generation ready for real checkpoints", on tiny models (CPU): the seq2seq
repetition penalty, prompt truncation by whole turns, strict chat templates, stop sequences
in the loop, the CUDA-graph self-check (emulated runner) and the out-of-memory messages.

Models are built by tests/generation/tiny_models.py and loaded through `from_pretrained`.
"""

from __future__ import annotations

import pytest

from generation.backends import DecodingParameters, load_seq2seq_system

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [
    pytest.mark.models,
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
]

PROMPTS = [
    "I had a great day at the beach with my family.",
    "My dog passed away last week.",
    "What happened next? Did you talk to your boss?",
    "We finally bought a house",
    "Hello",
    "I was so scared when the lights went out during the storm.",
]


def ids(results):
    return [[g.token_ids for g in per_prompt] for per_prompt in results]


@pytest.fixture(scope="module")
def t5(tiny_t5):
    return load_seq2seq_system(tiny_t5)


# ---------------------------------------------------------------------------------------------
# 1. seq2seq repetition penalty: the decoder's ids, as transformers does


@pytest.mark.parametrize("penalty", [1.3, 0.7])
def test_t5_repetition_penalty_equals_generate(t5, penalty):
    params = DecodingParameters(do_sample=False, max_new_tokens=10, repetition_penalty=penalty)
    ours = t5.generate(PROMPTS, params, batch_size=6)
    hf = t5.generate(PROMPTS, params, batch_size=6, backend="hf_generate")
    assert ids(ours) == ids(hf)
