"""The decoding backends on tiny real models (GPT-2, Mistral, T5, LoRA, DExperts), CPU only.

Models are built by tests/generation/tiny_models.py, saved with `save_pretrained` and loaded
through the same `from_pretrained` path as real checkpoints.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from generation.backends import (
    CheckpointError,
    DecodingParameters,
    InvalidParameters,
    SystemCache,
    load_causal_system,
    load_dexperts,
    load_seq2seq_system,
    validate_causal_checkpoint,
    validate_seq2seq_checkpoint,
)
from generation.backends.dexperts import combine_logits

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [
    pytest.mark.models,
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
]

GREEDY = DecodingParameters(do_sample=False, max_new_tokens=12)
SAMPLE = DecodingParameters(
    do_sample=True, top_p=0.9, top_k=40, temperature=0.8, max_new_tokens=12, seed=7
)

TURNS = [
    ("Speaker", "I failed my driving test again today."),
    ("Listener", "Oh no, that is frustrating."),
    ("Speaker", "Yes, it was my third try!"),
]
PROMPTS = [
    "Speaker: My dog passed away last week.\nListener:",
    "Hello",
    "We finally bought a house after saving for years, and I was so scared when the lights went out.",
    "What happened next?",
    "I had a great day",
]


def ids(results):
    """Token ids per prompt and sample."""
    return [[g.token_ids for g in per_prompt] for per_prompt in results]


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2):
    return load_causal_system(tiny_gpt2)


@pytest.fixture(scope="module")
def gpt2_static(tiny_gpt2):
    return load_causal_system(tiny_gpt2, static_cache=True)


@pytest.fixture(scope="module")
def mistral(tiny_mistral):
    return load_causal_system(tiny_mistral, system_prompt="Be brief.")


@pytest.fixture(scope="module")
def t5(tiny_t5):
    return load_seq2seq_system(tiny_t5)


# ---------------------------------------------------------------------------------------------
# checkpoint validation


def test_validate_reports_what_it_found(tiny_gpt2, tiny_lora):
    info = validate_causal_checkpoint(tiny_gpt2)
    assert (
        info.model_type == "gpt2"
        and info.vocab_size == info.tokenizer_size
        and info.max_positions == 128
    )
    assert not info.has_chat_template and info.adapter_path is None
    info = validate_causal_checkpoint(tiny_gpt2, tiny_lora)
    assert info.adapter["peft_type"] == "LORA" and info.adapter["r"] == 4


def test_validate_missing_path(tmp_path):
    with pytest.raises(CheckpointError, match="model folder .*nope.* does not exist"):
        validate_causal_checkpoint(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(CheckpointError, match="is not a folder"):
        validate_causal_checkpoint(tmp_path / "file.txt")
    with pytest.raises(CheckpointError, match="has no config.json"):
        validate_causal_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="model folder .*nope.* does not exist"):
        load_causal_system(tmp_path / "nope")


def test_validate_missing_adapter(tiny_gpt2, tmp_path):
    with pytest.raises(CheckpointError, match="adapter folder .*missing.* does not exist"):
        validate_causal_checkpoint(tiny_gpt2, tmp_path / "missing")


def test_validate_bad_tokenizer(tiny_gpt2, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_gpt2, broken)
    (broken / "tokenizer.json").write_text("{ this is not json")
    with pytest.raises(CheckpointError, match="cannot load the tokenizer in .*broken"):
        validate_causal_checkpoint(broken)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (broken / name).unlink()
    with pytest.raises(CheckpointError, match="has no tokenizer files"):
        validate_causal_checkpoint(broken)


def test_validate_bad_config_and_weights(tiny_gpt2, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_gpt2, bad)
    (bad / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="cannot read the model config"):
        validate_causal_checkpoint(bad)
    shutil.copy(tiny_gpt2 / "config.json", bad / "config.json")
    (bad / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="has no weights"):
        validate_causal_checkpoint(bad)


def test_validate_tokenizer_larger_than_the_model(tiny_gpt2, tmp_path):
    small = tmp_path / "small"
    shutil.copytree(tiny_gpt2, small)
    cfg = json.loads((small / "config.json").read_text())
    cfg["vocab_size"] = 10
    (small / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="has 3.. tokens but the model's vocabulary has 10"):
        validate_causal_checkpoint(small)


def test_validate_wrong_kind(tiny_gpt2, tiny_t5, tmp_path):
    with pytest.raises(CheckpointError, match="encoder-decoder .*use the seq2seq backend"):
        validate_causal_checkpoint(tiny_t5)
    with pytest.raises(CheckpointError, match="decoder-only .*use the causal backend"):
        validate_seq2seq_checkpoint(tiny_gpt2)
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    with pytest.raises(CheckpointError, match="has no adapter_config.json"):
        validate_causal_checkpoint(tiny_gpt2, adapter)


def test_chat_template_required_but_missing(tiny_gpt2):
    with pytest.raises(CheckpointError, match="has no chat template"):
        load_causal_system(tiny_gpt2, chat_template=True)


# ---------------------------------------------------------------------------------------------
# prompt rendering


def test_plain_rendering(gpt2):
    assert gpt2.render_prompt(TURNS) == (
        "Speaker: I failed my driving test again today.\n"
        "Listener: Oh no, that is frustrating.\n"
        "Speaker: Yes, it was my third try!\n"
        "Listener:"
    )
    with pytest.raises(ValueError, match="at least one turn"):
        gpt2.render_prompt([])
    with pytest.raises(ValueError, match="pair"):
        gpt2.render_prompt(["just text"])


def test_chat_rendering_model_answers_as_listener(tiny_gpt2_chat):
    system = load_causal_system(tiny_gpt2_chat, system_prompt="Answer in one short sentence.")
    assert system.chat_template
    text = system.render_prompt(TURNS)
    assert text == (
        "<|system|>\nAnswer in one short sentence.<|endoftext|>\n"
        "<|user|>\nI failed my driving test again today.<|endoftext|>\n"
        "<|assistant|>\nOh no, that is frustrating.<|endoftext|>\n"
        "<|user|>\nYes, it was my third try!<|endoftext|>\n"
        "<|assistant|>\n"
    )
    # two turns: the first speaker becomes the assistant, the last one the user
    two = system.render_prompt(TURNS[1:])
    assert two.index("<|assistant|>\nOh no") < two.index("<|user|>\nYes")
    plain = load_causal_system(tiny_gpt2_chat, chat_template=False)
    assert plain.render_prompt(TURNS).endswith("\nListener:")


def test_chat_rendering_without_system_role(tiny_gpt2, tmp_path):
    from transformers import AutoTokenizer

    from .tiny_models import STRICT_TEMPLATE

    path = tmp_path / "strict"
    shutil.copytree(tiny_gpt2, path)
    tok = AutoTokenizer.from_pretrained(str(path))
    tok.chat_template = STRICT_TEMPLATE
    tok.save_pretrained(str(path))
    system = load_causal_system(path, system_prompt="Be brief.")
    text = system.render_prompt(TURNS)
    assert text.startswith("[INST] Be brief.\n\nI failed my driving test")
    # a context that starts with the model's role: folded into the first user message
    folded = load_causal_system(path).render_prompt(TURNS[1:])
    assert folded == (
        "[INST] Listener: Oh no, that is frustrating.\nSpeaker: Yes, it was my third try! [/INST]"
    )


def test_length_controlled_baseline_prompt(tiny_mistral):
    """Seed 002: the baseline asked to be brief in the system prompt, with few new tokens."""
    system = load_causal_system(tiny_mistral, system_prompt="Reply briefly, in one sentence.")
    prompt = system.render_prompt(TURNS)
    assert prompt.startswith("<|system|>\nReply briefly, in one sentence.</s>\n<|user|>\n")
    [[g]] = system.generate([prompt], DecodingParameters(do_sample=False, max_new_tokens=5))
    assert g.new_tokens <= 5 and g.rendered_prompt == prompt
    ids_ = system.tokenizer(prompt)["input_ids"]
    assert ids_[0] == system.tokenizer.bos_token_id and g.prompt_tokens == len(ids_)


# ---------------------------------------------------------------------------------------------
# causal decoding: batching, padding, HF parity, caches


def test_greedy_batched_equals_one_at_a_time(gpt2):
    batched = gpt2.generate(PROMPTS, GREEDY, batch_size=len(PROMPTS))
    single = gpt2.generate(PROMPTS, GREEDY, batch_size=1)
    assert ids(batched) == ids(single)
    assert all(len(g.token_ids) == 12 or g.finish_reason == "eos" for r in batched for g in r)


def test_step_loop_equals_hf_generate_greedy(gpt2):
    ours = gpt2.generate(PROMPTS, GREEDY, batch_size=len(PROMPTS))
    hf_one = gpt2.generate(PROMPTS, GREEDY, batch_size=1, backend="hf_generate")
    hf_batched = gpt2.generate(PROMPTS, GREEDY, batch_size=len(PROMPTS), backend="hf_generate")
    assert ids(ours) == ids(hf_one) == ids(hf_batched)
    assert hf_one[0][0].backend == "hf_generate" and ours[0][0].backend == "hf_causal"


def test_repetition_penalty_matches_hf_generate(gpt2):
    params = DecodingParameters(do_sample=False, max_new_tokens=12, repetition_penalty=1.5)
    ours = gpt2.generate(PROMPTS, params, batch_size=1)
    hf = gpt2.generate(PROMPTS, params, batch_size=1, backend="hf_generate")
    assert ids(ours) == ids(hf)
    assert ids(ours) != ids(gpt2.generate(PROMPTS, GREEDY, batch_size=1))


def test_static_cache_path_equals_dynamic_path(gpt2, gpt2_static):
    """The static cache, explicit 4-D mask and position buffers are what the CUDA graph replays."""
    for params in (GREEDY, SAMPLE.replace(num_return_sequences=3)):
        dynamic = gpt2.generate(PROMPTS, params, batch_size=4)
        static = gpt2_static.generate(PROMPTS, params, batch_size=4)
        assert gpt2_static.stepper.last_mode == "static" and gpt2.stepper.last_mode == "dynamic"
        assert ids(dynamic) == ids(static)


def test_emulated_graph_protocol_and_buffer_reuse(tiny_gpt2, gpt2):
    """The CUDA-graph path without a GPU: warm-up forwards, cache reset, one captured step per
    (rows, bucketed length) reused across batches and calls."""
    system = load_causal_system(tiny_gpt2, static_cache=True, cuda_graph="emulate")
    prompts = ["Hello there", "What happened next?", "I had a great day", "My dog passed away"]
    for params in (GREEDY, SAMPLE):
        got = system.generate(prompts, params, batch_size=2)
        assert ids(got) == ids(gpt2.generate(prompts, params, batch_size=2))
    assert system.stepper.graph_captures == 1 and system.stepper.last_mode == "static"
    system.release()
    assert system.stepper._static is None


def test_generate_ids_equals_generate(gpt2):
    prompt_ids = [gpt2.tokenizer(p)["input_ids"] for p in PROMPTS]
    by_ids = gpt2.generate_ids(prompt_ids, SAMPLE, batch_size=3)
    assert ids(by_ids) == ids(gpt2.generate(PROMPTS, SAMPLE, batch_size=3))
    assert by_ids[1][0].rendered_prompt == gpt2.tokenizer.decode(prompt_ids[1])
    with pytest.raises(InvalidParameters, match="empty"):
        gpt2.generate_ids([[]], SAMPLE)


def test_mistral_gqa_left_padding_matches_hf_and_static(mistral, tiny_mistral):
    prompts = [mistral.render_prompt(TURNS), mistral.render_prompt(TURNS[2:]), *PROMPTS[:3]]
    ours = mistral.generate(prompts, GREEDY, batch_size=len(prompts))
    assert ids(ours) == ids(mistral.generate(prompts, GREEDY, batch_size=1))
    assert ids(ours) == ids(
        mistral.generate(prompts, GREEDY, batch_size=len(prompts), backend="hf_generate")
    )
    static = load_causal_system(tiny_mistral, system_prompt="Be brief.", static_cache=True)
    assert ids(static.generate(prompts, GREEDY, batch_size=3)) == ids(ours)
    assert static.stepper.last_mode == "static"


def test_sliding_window_shorter_than_the_sequence_falls_back_to_dynamic(tmp_path):
    from .tiny_models import build_mistral

    path = build_mistral(tmp_path / "sw", sliding_window=8)
    static = load_causal_system(path, static_cache=True)
    plain = load_causal_system(path)
    out = static.generate(PROMPTS[:2], GREEDY, batch_size=2)
    assert static.stepper.last_mode == "dynamic"
    assert ids(out) == ids(plain.generate(PROMPTS[:2], GREEDY, batch_size=2, backend="hf_generate"))


# ---------------------------------------------------------------------------------------------
# sampling, seeds, lengths


def test_sampling_is_reproducible_and_independent_of_batching(gpt2):
    params = SAMPLE.replace(num_return_sequences=4)
    a = gpt2.generate(PROMPTS, params, batch_size=7)
    b = gpt2.generate(PROMPTS, params, batch_size=7)
    c = gpt2.generate(PROMPTS, params, batch_size=1)
    assert ids(a) == ids(b) == ids(c)
    assert len({g.token_ids for g in a[0]}) > 1  # samples of one prompt differ
    assert [g.sample_index for g in a[0]] == [0, 1, 2, 3]
    other_seed = gpt2.generate(PROMPTS, params.replace(seed=8), batch_size=7)
    assert ids(other_seed) != ids(a)


def test_sampling_follows_the_prompt_seed_not_its_position(gpt2):
    seeds = [101, 202, 303, 404, 505]
    a = gpt2.generate(PROMPTS, SAMPLE, prompt_seeds=seeds)
    b = gpt2.generate(PROMPTS[::-1], SAMPLE, prompt_seeds=seeds[::-1])
    assert ids(a) == ids(b)[::-1]
    assert a[0][0].seed == 101
    with pytest.raises(InvalidParameters, match="prompt_seeds has 1 seeds for 5 prompts"):
        gpt2.generate(PROMPTS, SAMPLE, prompt_seeds=[1])


def test_min_new_tokens_respected(gpt2):
    [[first]] = gpt2.generate(PROMPTS[:1], GREEDY)
    eos_like = first.token_ids[0]  # the token greedy decoding picks first
    saved = gpt2.eos_ids
    try:
        gpt2.eos_ids = [eos_like]
        [[stopped]] = gpt2.generate(PROMPTS[:1], GREEDY)
        assert stopped.finish_reason == "eos" and stopped.new_tokens == 1 and stopped.text == ""
        params = GREEDY.replace(min_new_tokens=5)
        [[held]] = gpt2.generate(PROMPTS[:1], params)
        assert held.new_tokens >= 5 and eos_like not in held.token_ids[:5]
        [[hf]] = gpt2.generate(PROMPTS[:1], params, backend="hf_generate")
        assert hf.token_ids == held.token_ids
    finally:
        gpt2.eos_ids = saved


def test_max_new_tokens_and_result_fields(gpt2):
    params = DecodingParameters(do_sample=False, max_new_tokens=6)
    [[g]] = gpt2.generate(PROMPTS[:1], params)
    assert g.new_tokens == 6 and g.finish_reason == "length" and len(g.token_ids) == 6
    assert g.rendered_prompt == PROMPTS[0] and g.prompt_tokens == len(
        gpt2.tokenizer(PROMPTS[0])["input_ids"]
    )
    assert g.text == gpt2.tokenizer.decode(list(g.token_ids), skip_special_tokens=True)
    assert g.seconds > 0 and g.batch_seconds >= g.seconds
    assert g.backend_version.startswith("hf_causal/1 transformers ")
    assert g.as_dict()["token_ids"] == list(g.token_ids)


def test_stop_sequences_cut_the_text(gpt2):
    [[g]] = gpt2.generate(PROMPTS[:1], GREEDY)
    stop = g.text[3:5]
    assert stop
    [[cut]] = gpt2.generate(PROMPTS[:1], GREEDY.replace(stop_sequences=(stop,)))
    assert cut.finish_reason == "stop_sequence" and cut.text == g.text[: g.text.index(stop)]


def test_single_token_stop_ends_early(gpt2):
    [[g]] = gpt2.generate(PROMPTS[:1], GREEDY)
    stop_text = gpt2.tokenizer.decode([g.token_ids[2]])
    if len(gpt2.tokenizer(stop_text, add_special_tokens=False)["input_ids"]) != 1:
        pytest.skip("the third token does not round-trip as one token")
    [[cut]] = gpt2.generate(PROMPTS[:1], GREEDY.replace(stop_sequences=(stop_text,)))
    assert cut.finish_reason == "stop_sequence"
    assert cut.new_tokens <= 3


def test_prompts_longer_than_the_model_keep_their_end(gpt2):
    long_prompt = " ".join(["We finally bought a house after saving for years."] * 40)
    [[g]] = gpt2.generate([long_prompt], GREEDY)
    assert g.prompt_truncated_tokens > 0 and g.prompt_tokens == 128 - 12
    with pytest.raises(InvalidParameters, match="leaves no room"):
        gpt2.generate(["hi"], DecodingParameters(do_sample=False, max_new_tokens=200))


def test_generate_argument_errors(gpt2):
    with pytest.raises(InvalidParameters, match="list of strings"):
        gpt2.generate("one string", GREEDY)
    with pytest.raises(InvalidParameters, match="backend"):
        gpt2.generate(PROMPTS, GREEDY, backend="vllm")
    with pytest.raises(InvalidParameters, match="batch_size"):
        gpt2.generate(PROMPTS, GREEDY, batch_size=0)
    assert gpt2.generate([], GREEDY) == []


def test_injected_out_of_memory_halves_the_batch(gpt2, monkeypatch):
    params = SAMPLE.replace(num_return_sequences=2)
    expected = gpt2.generate(PROMPTS, params, batch_size=8)
    real_prefill = gpt2.stepper.prefill
    attempts: list[int] = []

    def flaky_prefill(input_ids, attention_mask, row_map, max_new_tokens):
        rows = input_ids.shape[0] if row_map is None else row_map.shape[0]
        attempts.append(rows)
        if rows > 3:
            raise torch.cuda.OutOfMemoryError(
                "CUDA out of memory. Tried to allocate 2.00 GiB (injected)"
            )
        return real_prefill(input_ids, attention_mask, row_map, max_new_tokens)

    monkeypatch.setattr(gpt2.stepper, "prefill", flaky_prefill)
    used: list[int] = []
    got = gpt2.generate(PROMPTS, params, batch_size=8, batch_sizes_used=used)
    assert ids(got) == ids(expected)
    assert attempts[:3] == [8, 4, 2] and set(used) == {2}


# ---------------------------------------------------------------------------------------------
# LoRA adapters


def test_lora_adapter_changes_outputs(tiny_gpt2, tiny_lora, tiny_lora_zero, gpt2):
    base = ids(gpt2.generate(PROMPTS, GREEDY))
    merged = load_causal_system(tiny_gpt2, adapter_path=tiny_lora)
    unmerged = load_causal_system(tiny_gpt2, adapter_path=tiny_lora, merge_adapter=False)
    zero = load_causal_system(tiny_gpt2, adapter_path=tiny_lora_zero)
    with_adapter = ids(merged.generate(PROMPTS, GREEDY))
    assert with_adapter != base
    assert ids(unmerged.generate(PROMPTS, GREEDY)) == with_adapter
    assert ids(zero.generate(PROMPTS, GREEDY)) == base
    d = merged.describe()
    assert d["adapter_merged"] and d["adapter"]["peft_type"] == "LORA"
    assert merged.version.endswith(" peft " + __import__("peft").__version__.split("+")[0])


# ---------------------------------------------------------------------------------------------
# seq2seq


def test_seq2seq_batched_equals_unbatched_and_hf(t5):
    batched = t5.generate(PROMPTS, GREEDY, batch_size=len(PROMPTS))
    assert ids(batched) == ids(t5.generate(PROMPTS, GREEDY, batch_size=1))
    assert ids(batched) == ids(
        t5.generate(PROMPTS, GREEDY, batch_size=len(PROMPTS), backend="hf_generate")
    )
    assert batched[0][0].backend == "seq2seq" and batched[0][0].prompt_tokens == len(
        t5.tokenizer(PROMPTS[0])["input_ids"]
    )


def test_seq2seq_sampling_reproducible(t5):
    params = SAMPLE.replace(num_return_sequences=3)
    a = t5.generate(PROMPTS, params, batch_size=6)
    assert ids(a) == ids(t5.generate(PROMPTS, params, batch_size=1))
    assert any(len({g.token_ids for g in r}) > 1 for r in a)


# ---------------------------------------------------------------------------------------------
# DExperts


@pytest.fixture(scope="module")
def dexperts(tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert):
    return load_dexperts(
        tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert, alpha=2.0, base_top_p_filter=0.9
    )


def test_dexperts_alpha_zero_equals_base(gpt2, tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert):
    no_filter = load_dexperts(
        tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert, alpha=0.0, base_top_p_filter=None
    )
    assert ids(no_filter.generate(PROMPTS, GREEDY)) == ids(gpt2.generate(PROMPTS, GREEDY))
    sample = DecodingParameters(max_new_tokens=12, num_return_sequences=2, seed=3)
    assert ids(no_filter.generate(PROMPTS, sample)) == ids(gpt2.generate(PROMPTS, sample))
    # with the reference's base filter, alpha = 0 is base sampling with top-p 0.9
    filtered = load_dexperts(tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert, alpha=0.0)
    assert ids(filtered.generate(PROMPTS, sample)) == ids(
        gpt2.generate(PROMPTS, sample.replace(top_p=0.9))
    )


def test_dexperts_expert_equal_antiexpert_equals_base(gpt2, tiny_gpt2, tiny_gpt2_expert):
    same = load_dexperts(
        tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_expert, alpha=2.0, base_top_p_filter=None
    )
    assert ids(same.generate(PROMPTS, GREEDY)) == ids(gpt2.generate(PROMPTS, GREEDY))


@pytest.mark.parametrize("base_filter", [None, 0.9])
def test_dexperts_first_step_by_hand(
    tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert, base_filter
):
    from transformers import AutoModelForCausalLM

    system = load_dexperts(
        tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert, alpha=2.0, base_top_p_filter=base_filter
    )
    got = system.first_step_logits(PROMPTS)
    for i, prompt in enumerate(PROMPTS):
        enc = system.tokenizer(prompt, return_tensors="pt")
        z = {}
        for name, path in (
            ("base", tiny_gpt2),
            ("expert", tiny_gpt2_expert),
            ("anti", tiny_gpt2_antiexpert),
        ):
            model = AutoModelForCausalLM.from_pretrained(str(path)).eval()
            with torch.no_grad():
                z[name] = model(**enc).logits[0, -1].double()
        base = z["base"]
        if (
            base_filter is not None
        ):  # the reference filter, by hand: sort, cumulate, keep until past p
            probs, order = torch.sort(torch.softmax(base, -1), descending=True)
            before = torch.cumsum(probs, -1) - probs
            keep = torch.zeros_like(base, dtype=torch.bool)
            keep[order[before <= base_filter]] = True
            base = torch.where(keep, base, torch.tensor(float("-inf"), dtype=base.dtype))
        expected = base + 2.0 * (z["expert"] - z["anti"])
        finite = torch.isfinite(expected)
        assert torch.equal(finite, torch.isfinite(got[i]))
        assert torch.allclose(got[i][finite].double(), expected[finite], atol=1e-4)
        if base_filter is None:
            assert finite.all()


def test_dexperts_combination_matches_combine_logits(dexperts):
    """The system's step equals `combine_logits` on the three models' own logits."""
    got = dexperts.first_step_logits(PROMPTS[:2])
    from generation.backends.batching import make_work, pack

    items = make_work([dexperts.encode_prompt(p, 1)[0] for p in PROMPTS[:2]], [0, 0], [0, 1], 1)
    packed = pack(items, dexperts.pad_id, dexperts.device)
    zs = [s.prefill(packed.input_ids, packed.attention_mask, None, 1) for s in dexperts.steppers]
    assert torch.equal(got, combine_logits(*zs, alpha=2.0, base_top_p_filter=0.9))


def test_dexperts_greedy_batched_equals_one_at_a_time(dexperts, gpt2):
    batched = dexperts.generate(PROMPTS, GREEDY, batch_size=len(PROMPTS))
    assert ids(batched) == ids(dexperts.generate(PROMPTS, GREEDY, batch_size=1))
    assert ids(batched) != ids(gpt2.generate(PROMPTS, GREEDY))  # the experts do change the output
    assert batched[0][0].variant == "alpha=2;base_top_p=0.9" and batched[0][0].backend == "dexperts"


def test_dexperts_equals_a_naive_loop_without_caches(
    dexperts, tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert
):
    """Re-run every model on the whole sequence at every step: no cache, no padding."""
    from transformers import AutoModelForCausalLM

    models = [
        AutoModelForCausalLM.from_pretrained(str(p)).eval()
        for p in (tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert)
    ]
    got = dexperts.generate(PROMPTS[:3], GREEDY, batch_size=3)
    for prompt, [g] in zip(PROMPTS[:3], got, strict=True):
        seq = dexperts.tokenizer(prompt)["input_ids"]
        new = []
        for _ in range(GREEDY.max_new_tokens):
            with torch.no_grad():
                z = [m(torch.tensor([seq])).logits[0, -1] for m in models]
            tok = int(combine_logits(z[0][None], z[1][None], z[2][None], 2.0, 0.9).argmax())
            new.append(tok)
            seq.append(tok)
            if tok in dexperts.eos_ids:
                break
        assert list(g.token_ids) == new


def test_dexperts_sampling_25_continuations(dexperts):
    """The seed-000 setting: 25 continuations of 20 tokens per prompt."""
    params = DecodingParameters(max_new_tokens=20, num_return_sequences=25, seed=1)
    a = dexperts.generate(PROMPTS[:2], params, batch_size=50)
    assert [len(r) for r in a] == [25, 25]
    assert ids(a) == ids(dexperts.generate(PROMPTS[:2], params, batch_size=16))
    assert len({g.token_ids for g in a[0]}) > 20


def test_dexperts_static_cache_path(tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert, dexperts):
    static = load_dexperts(
        tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_antiexpert, static_cache=True, cuda_graph="emulate"
    )
    params = SAMPLE.replace(num_return_sequences=2)
    assert ids(static.generate(PROMPTS, params, batch_size=4)) == ids(
        dexperts.generate(PROMPTS, params, batch_size=4)
    )
    assert all(s.last_mode == "static" and s.graph_captures >= 1 for s in static.steppers)


def test_dexperts_vocabulary_mismatch_is_a_clear_error(tiny_gpt2, tiny_gpt2_expert, tmp_path):
    from .tiny_models import build_gpt2

    other = build_gpt2(tmp_path / "other_vocab", vocab_size=300)
    with pytest.raises(
        CheckpointError, match="DExperts needs one vocabulary: .* expert .* has 300"
    ):
        load_dexperts(tiny_gpt2, other, tiny_gpt2_expert)
    with pytest.raises(CheckpointError, match="anti-expert folder .* does not exist"):
        load_dexperts(tiny_gpt2, tiny_gpt2_expert, tmp_path / "nope")
    with pytest.raises(InvalidParameters, match="no hf_generate backend"):
        load_dexperts(tiny_gpt2, tiny_gpt2_expert, tiny_gpt2_expert).generate(
            PROMPTS, GREEDY, backend="hf_generate"
        )


# ---------------------------------------------------------------------------------------------
# the warm cache with real loads


def test_system_cache_with_real_specs(tiny_gpt2, tiny_t5):
    cache = SystemCache(max_systems=1)
    spec = {"kind": "causal", "path": str(tiny_gpt2), "dtype": "float32"}
    a = cache.get(spec)
    assert cache.get(dict(spec)) is a and cache.loads == 1
    b = cache.get({"kind": "seq2seq", "path": str(tiny_t5)})
    assert b.backend_name == "seq2seq" and len(cache) == 1 and spec not in cache
