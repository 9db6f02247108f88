"""Issue 13, "generation ready for real checkpoints", on tiny models (CPU): the seq2seq
repetition penalty, prompt truncation by whole turns, strict chat templates, stop sequences
in the loop, the CUDA-graph self-check (emulated runner) and the out-of-memory messages.

Models are built by tests/generation/tiny_models.py and loaded through `from_pretrained`.
"""

from __future__ import annotations

import pytest
import torch

from generation.backends import DecodingParameters, load_causal_system, load_seq2seq_system

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


# ---------------------------------------------------------------------------------------------
# 2. prompt truncation: whole earliest turns dropped; BOS, system prompt, generation prompt kept

LONG_DIALOGUE = [
    ("Speaker" if i % 2 == 0 else "Listener", f"Turn {i}: {sentence}")
    for i, sentence in enumerate(
        [
            "I had a great day at the beach with my family.",
            "That sounds really lovely, what did you do there?",
            "We finally bought a house after saving for years.",
            "Congratulations! You must be so proud of yourself.",
            "I was so scared when the lights went out during the storm.",
            "It is normal to feel nervous, what happened next?",
            "My dog passed away last week and I miss him so much.",
        ]
    )
]


@pytest.fixture(scope="module")
def mistral_short(tiny_mistral):
    return load_causal_system(tiny_mistral, system_prompt="Be brief.", max_prompt_tokens=180)


def test_truncation_drops_the_earliest_whole_turns_and_keeps_bos_and_system_prompt(
    mistral_short,
):
    system = mistral_short
    full_ids = system._encode_text(system.render_prompt(LONG_DIALOGUE))
    assert len(full_ids) > 180  # the test needs a context that does not fit
    fitted = system.prepare_prompt(LONG_DIALOGUE, max_new_tokens=8)
    ids = system._encode_text(fitted.text)
    assert len(ids) <= 180
    assert ids[0] == system.tokenizer.bos_token_id
    assert fitted.text.startswith("<|system|>\nBe brief.")
    assert fitted.text.endswith("<|assistant|>\n")
    dropped = fitted.dropped_turns
    assert 1 <= dropped < len(LONG_DIALOGUE) and fitted.cut_tokens == 0
    for i, (_, text) in enumerate(LONG_DIALOGUE):
        assert (text in fitted.text) == (i >= dropped)  # whole turns, the earliest ones out
    # the fewest turns dropped: one turn fewer would not fit
    one_fewer = system._encode_text(system.render_prompt(LONG_DIALOGUE[dropped - 1 :]))
    assert len(one_fewer) > 180
    [[g]] = system.generate([fitted], DecodingParameters(do_sample=False, max_new_tokens=8))
    assert g.prompt_dropped_turns == dropped and g.prompt_tokens == len(ids)
    assert g.rendered_prompt == fitted.text and g.prompt_form == "chat"


def test_a_last_turn_too_long_alone_loses_its_start(mistral_short):
    long_turn = [("Speaker", " ".join(f"word{i}" for i in range(80)) + " the very end.")]
    fitted = mistral_short.prepare_prompt(long_turn, max_new_tokens=8)
    ids = mistral_short._encode_text(fitted.text)
    assert len(ids) <= 180 and ids[0] == mistral_short.tokenizer.bos_token_id
    assert fitted.cut_tokens > 0 and "the very end." in fitted.text
    assert "word0 " not in fitted.text and fitted.text.startswith("<|system|>\nBe brief.")


def test_a_raw_prompt_cut_by_tokens_keeps_its_bos(mistral_short):
    ids, cut = mistral_short.encode_prompt(" ".join(["We bought a house."] * 60), 8)
    assert cut > 0 and len(ids) == 180 and ids[0] == mistral_short.tokenizer.bos_token_id


def test_the_model_positions_limit_the_prompt_too(tiny_gpt2):
    system = load_causal_system(tiny_gpt2)  # 128 positions
    assert system.prompt_limit(12) == 116
    assert load_causal_system(tiny_gpt2, max_prompt_tokens=50).prompt_limit(12) == 50
    assert load_causal_system(tiny_gpt2, max_prompt_tokens=500).prompt_limit(12) == 116


# ---------------------------------------------------------------------------------------------
# 3. strict chat templates: explicit roles, folds so the template's rules hold


@pytest.fixture(scope="module")
def strict_gpt2(tiny_gpt2, tmp_path_factory):
    import shutil

    from transformers import AutoTokenizer

    from .tiny_models import STRICT_TEMPLATE

    path = tmp_path_factory.mktemp("strict")
    shutil.copytree(tiny_gpt2, path, dirs_exist_ok=True)
    tok = AutoTokenizer.from_pretrained(str(path))
    tok.chat_template = STRICT_TEMPLATE
    tok.save_pretrained(str(path))
    return path


def test_strict_template_with_the_model_playing_a_named_speaker(strict_gpt2):
    from generation.backends.prompts import PromptError

    system = load_causal_system(strict_gpt2, model_speaker="Listener", system_prompt="Be kind.")
    turns = [
        ("Listener", "Hi, how was your day?"),
        ("Speaker", "Bad."),
        ("Speaker", "I lost my keys."),
    ]
    fitted = system.prepare_prompt(turns, 8)
    assert fitted.form == "chat:leading_turns_folded+system_in_first_user"
    assert fitted.text == (
        "[INST] Be kind.\n\nListener: Hi, how was your day?\nSpeaker: Bad.\nSpeaker: I lost my keys."
        " [/INST]"
    )
    with pytest.raises(PromptError, match="ends with a turn of 'Listener'"):
        system.render_prompt([("Speaker", "Hi"), ("Listener", "Hello")])


def test_a_template_rule_no_form_satisfies_is_named(tiny_gpt2, tmp_path):
    import shutil

    from transformers import AutoTokenizer

    from generation.backends.prompts import PromptError

    path = tmp_path / "user-only"
    shutil.copytree(tiny_gpt2, path)
    tok = AutoTokenizer.from_pretrained(str(path))
    tok.chat_template = (
        "{% for m in messages %}{% if m['role'] != 'user' %}"
        "{{ raise_exception('Only user messages are supported') }}{% endif %}"
        "{{ m['content'] }}{% endfor %}"
    )
    tok.save_pretrained(str(path))
    system = load_causal_system(path)
    with pytest.raises(PromptError, match="rule: Only user messages are supported"):
        system.render_prompt([("A", "a"), ("B", "b"), ("A", "c")])


# ---------------------------------------------------------------------------------------------
# 4. stop sequences of several tokens stop decoding, detected on the decoded text


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2):
    return load_causal_system(tiny_gpt2)


def test_a_multi_token_stop_sequence_stops_decoding(gpt2):
    greedy = DecodingParameters(do_sample=False, max_new_tokens=24)
    [[full]] = gpt2.generate(["I had a great day"], greedy)
    assert full.new_tokens == 24
    toks = list(full.token_ids)
    # a stop sequence made of two tokens' text, first completed at token k + 1
    k = next(
        k
        for k in range(4, 20)
        if len(gpt2.tokenizer.decode(toks[k : k + 2]).strip()) >= 3
        and gpt2.tokenizer.decode(toks[k : k + 2]) not in gpt2.tokenizer.decode(toks[: k + 1])
    )
    stop = gpt2.tokenizer.decode(toks[k : k + 2])
    assert len(gpt2.tokenizer(stop, add_special_tokens=False)["input_ids"]) > 1
    params = greedy.replace(stop_sequences=(stop,))
    [[g]] = gpt2.generate(["I had a great day"], params)
    assert g.token_ids == tuple(toks[: k + 2]) and g.new_tokens == k + 2  # decoding stopped
    assert g.finish_reason == "stop_sequence"
    assert g.text == full.text[: full.text.index(stop)]
    [[hf]] = gpt2.generate(["I had a great day"], params, backend="hf_generate")
    assert hf.token_ids == g.token_ids and hf.text == g.text


def test_stop_sequences_stop_each_row_of_a_batch_on_its_own(gpt2):
    greedy = DecodingParameters(do_sample=False, max_new_tokens=16)
    full = gpt2.generate(PROMPTS, greedy, batch_size=6)
    stop = full[0][0].text[6:9]
    stopped = gpt2.generate(PROMPTS, greedy.replace(stop_sequences=(stop,)), batch_size=6)
    one_by_one = gpt2.generate(PROMPTS, greedy.replace(stop_sequences=(stop,)), batch_size=1)
    assert ids(stopped) == ids(one_by_one)
    for [f], [s] in zip(full, stopped, strict=True):
        assert f.token_ids[: s.new_tokens] == s.token_ids
        if stop in f.text:
            assert s.finish_reason == "stop_sequence" and s.text == f.text[: f.text.index(stop)]
            assert s.new_tokens < f.new_tokens or f.finish_reason != "length"
        else:
            assert s.token_ids == f.token_ids


# ---------------------------------------------------------------------------------------------
# 6. the CUDA-graph self-check (the emulated graph runner on CPU), out-of-memory messages

SAMPLE = DecodingParameters(do_sample=True, top_p=0.9, max_new_tokens=8, seed=5)


def test_the_graph_self_check_passes_and_the_mode_used_is_recorded(tiny_gpt2, gpt2):
    system = load_causal_system(tiny_gpt2, static_cache=True, cuda_graph="emulate")
    assert system.describe()["graph_check"] == "pending"
    got = system.generate(PROMPTS, SAMPLE, batch_size=3)
    assert ids(got) == ids(gpt2.generate(PROMPTS, SAMPLE, batch_size=3))
    d = system.describe()
    assert d["graph_check"] == "passed" and d["decode_modes_used"] == ["emulated_graph"]
    assert d["cuda_graph"] is True and d["graph_fallback"] == ""
    assert {g.decode_mode for r in got for g in r} == {"emulated_graph"}
    assert {g.graph_fallback for r in got for g in r} == {""}
    assert gpt2.describe()["graph_check"] == "not_needed"
    assert {g.decode_mode for r in gpt2.generate(PROMPTS[:2], SAMPLE) for g in r} == {"dynamic"}


def test_a_graph_that_differs_from_dynamic_decoding_falls_back(tiny_gpt2, gpt2, monkeypatch):
    from generation.backends import loop

    real_run = loop.CapturelessRunner.run

    def wrong_run(self):  # a captured step that computes the wrong thing
        logits = real_run(self).clone()
        logits[..., 7] += 1000.0
        return logits

    monkeypatch.setattr(loop.CapturelessRunner, "run", wrong_run)
    system = load_causal_system(tiny_gpt2, static_cache=True, cuda_graph="emulate")
    first = system.generate(PROMPTS, SAMPLE, batch_size=3)
    later = system.generate(PROMPTS[:2], SAMPLE, batch_size=3)
    assert ids(first) == ids(gpt2.generate(PROMPTS, SAMPLE, batch_size=3))  # correct tokens
    assert ids(later) == ids(gpt2.generate(PROMPTS[:2], SAMPLE, batch_size=3))
    d = system.describe()
    assert d["graph_check"] == "failed" and d["cuda_graph"] is False
    assert d["decode_modes_used"] == ["dynamic"]  # what ran, not what was planned
    assert "emulated_graph decoding differed from dynamic decoding" in d["graph_fallback"]
    assert "instead of" in d["graph_fallback"]
    for g in [g for r in first + later for g in r]:
        assert g.decode_mode == "dynamic" and g.graph_fallback == d["graph_fallback"]


def test_the_self_check_waits_for_the_first_batch_that_runs_a_graph(tmp_path, torch_one_thread):
    from .tiny_models import build_mistral

    path = build_mistral(tmp_path / "window", sliding_window=24)
    system = load_causal_system(path, static_cache=True, cuda_graph="emulate")
    params = DecodingParameters(do_sample=False, max_new_tokens=6)
    [[long]] = system.generate([" ".join(["We bought a house."] * 6)], params)
    assert long.decode_mode == "dynamic" and long.graph_fallback == ""  # past the window
    assert system.describe()["graph_check"] == "pending"
    [[short]] = system.generate(["Hello"], params)
    assert short.decode_mode == "emulated_graph"
    assert system.describe()["graph_check"] == "passed"
    assert system.describe()["decode_modes_used"] == ["dynamic", "emulated_graph"]


@pytest.mark.parametrize(
    "message",
    [
        "CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
        "CUDA error: CUBLAS_STATUS_NOT_INITIALIZED when calling `cublasCreate(handle)`",
        "CUDA error: out of memory (cudaGraphInstantiate)",
        "cuDNN error: CUDNN_STATUS_NOT_ENOUGH_WORKSPACE",
    ],
)
def test_out_of_memory_as_a_plain_runtime_error_halves_the_batch(gpt2, monkeypatch, message):
    from generation.backends.batching import is_out_of_memory

    assert is_out_of_memory(RuntimeError(message))
    assert not is_out_of_memory(RuntimeError("shape mismatch")) and not is_out_of_memory(
        ValueError("out of memory")
    )
    real_open = type(gpt2)._open
    failures = []

    def open_or_fail(self, packed, max_new_tokens):
        if packed.input_ids.shape[0] > 2:
            failures.append(packed.input_ids.shape[0])
            raise RuntimeError(message)
        return real_open(self, packed, max_new_tokens)

    monkeypatch.setattr(type(gpt2), "_open", open_or_fail)
    used: list[int] = []
    got = gpt2.generate(PROMPTS, SAMPLE, batch_size=6, batch_sizes_used=used)
    monkeypatch.undo()
    assert failures == [6, 3] and used == [1] * 6  # 6 rows, then 3, then 1 (kept)
    assert ids(got) == ids(gpt2.generate(PROMPTS, SAMPLE, batch_size=6))


# ---------------------------------------------------------------------------------------------
# bench/generation.py checks graph, static, dynamic and HF generate before timing anything


@pytest.mark.parametrize("dexperts", [False, True])
def test_the_bench_equality_check_passes_and_catches_a_wrong_graph(
    monkeypatch, torch_one_thread, dexperts
):
    from bench import generation as bench
    from generation.backends import loop

    small = dict(vocab_size=256, n_positions=64, n_embd=32, n_layer=2, n_head=2, n_inner=64)
    shape = dict(bench.SHAPES["tiny"], config=small)
    tok = bench.synthetic_tokenizer(shape["config"]["vocab_size"])
    cpu = torch.device("cpu")
    ids = [[5, 6, 7, 8, 9], [10, 11, 12], [13, 14, 15, 16]]
    n = 3 if dexperts else 1
    ok = bench.equality_check(shape, tok, cpu, torch.float32, 0, n, dexperts, ids, 6)
    assert ok["equal"] and ok["modes_used"]["graph"] == "emulated_graph"
    real_run = loop.CapturelessRunner.run
    monkeypatch.setattr(
        loop.CapturelessRunner,
        "run",
        lambda self: real_run(self).clone().index_fill_(-1, torch.tensor([3]), 1e4),
    )
    bad = bench.equality_check(shape, tok, cpu, torch.float32, 0, n, dexperts, ids, 6)
    assert not bad["equal"] and bad["first_difference"]["paths"] == "graph vs dynamic"
