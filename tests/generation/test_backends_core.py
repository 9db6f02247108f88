"""Pure parts of the decoding backends: parameters, logits processing, sampling, batching, cache.

No models here (fast); the model tests are in test_backends_models.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from generation.backends import (
    DecodingParameters,
    InvalidParameters,
    OutOfMemory,
    SystemCache,
    SystemSpecError,
    backend_version,
    combine_logits,
    derive_seed,
    generate_chunked,
    load_system,
    system_key,
)
from generation.backends.base import cut_at_stop_sequences, prompt_seeds_for, sample_seed
from generation.backends.batching import WorkItem, make_work, pack, seen_mask, sort_for_batching
from generation.backends.sampling import (
    apply_repetition_penalty,
    sample_with_uniforms,
    select_tokens,
    top_k_filter,
    top_p_filter,
    uniforms_for_seeds,
)

# ---------------------------------------------------------------------------------------------
# DecodingParameters


def test_parameters_defaults_and_dict_round_trip():
    p = DecodingParameters()
    assert p.do_sample and p.max_new_tokens == 20 and p.top_p == 1.0 and p.top_k == 0
    d = p.as_dict()
    assert d["stop_sequences"] == [] and set(d) >= {"temperature", "seed", "repetition_penalty"}
    assert DecodingParameters.from_dict(d) == p


@given(
    do_sample=st.booleans(),
    temperature=st.floats(0.05, 5),
    top_p=st.floats(0.01, 1.0),
    top_k=st.integers(0, 100),
    max_new=st.integers(1, 64),
    seed=st.integers(0, 2**63 - 1),
    stops=st.lists(st.text(min_size=1, max_size=3), max_size=2),
)
def test_parameters_round_trip_property(do_sample, temperature, top_p, top_k, max_new, seed, stops):
    p = DecodingParameters(
        do_sample=do_sample,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        max_new_tokens=max_new,
        min_new_tokens=max_new // 2,
        seed=seed,
        stop_sequences=stops,
    )
    assert DecodingParameters.from_dict(p.as_dict()) == p
    assert isinstance(p.stop_sequences, tuple)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"temperature": 0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": 5, "min_new_tokens": 6}, "min_new_tokens (6) must not exceed"),
        ({"num_return_sequences": 0}, "num_return_sequences"),
        ({"do_sample": False, "num_return_sequences": 3}, "identical copies"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"max_new_tokens": 2.5}, "max_new_tokens"),
        ({"stop_sequences": [""]}, "stop_sequences"),
        ({"do_sample": "yes"}, "do_sample"),
    ],
)
def test_parameters_validation_errors_are_clear(changes, fragment):
    with pytest.raises(InvalidParameters, match="invalid decoding parameters") as err:
        DecodingParameters(**changes)
    assert fragment in str(err.value)


def test_parameters_report_every_problem_at_once():
    with pytest.raises(InvalidParameters) as err:
        DecodingParameters(temperature=-1, top_k=-2, max_new_tokens=0)
    msg = str(err.value)
    assert "temperature" in msg and "top_k" in msg and "max_new_tokens" in msg


def test_parameters_unknown_key():
    with pytest.raises(InvalidParameters, match="unknown decoding parameter.*top_q"):
        DecodingParameters.from_dict({"top_q": 0.9})


def test_parameters_are_frozen():
    p = DecodingParameters()
    with pytest.raises(AttributeError):
        p.top_p = 0.5  # type: ignore[misc]
    assert p.replace(top_p=0.5).top_p == 0.5


# ---------------------------------------------------------------------------------------------
# seeds, versions, stop sequences


def test_seeds_are_stable_and_distinct():
    assert derive_seed(1, 2) == derive_seed(1, 2)
    assert derive_seed(1, 2) != derive_seed(2, 1)
    assert 0 <= derive_seed("job", 7) < 2**63
    p = DecodingParameters(seed=3)
    seeds = prompt_seeds_for(p, 4, None)
    assert len(set(seeds)) == 4 and seeds == prompt_seeds_for(p, 4, None)
    assert prompt_seeds_for(p, 2, [5, 6]) == [5, 6]
    with pytest.raises(InvalidParameters):
        prompt_seeds_for(p, 2, [5])
    assert sample_seed(99, 0) == 99 and sample_seed(99, 1) != sample_seed(99, 2)


def test_backend_version_string():
    v = backend_version("hf_causal")
    assert v.startswith("hf_causal/1 transformers ") and " torch " in v and "+" not in v
    assert backend_version("hf_causal", with_peft=True).split()[-2] == "peft"


def test_cut_at_stop_sequences():
    assert cut_at_stop_sequences("hello\nSpeaker: x", ["\n"]) == ("hello", True)
    assert cut_at_stop_sequences("a END b STOP", ["STOP", "END"]) == ("a ", True)
    assert cut_at_stop_sequences("nothing", ["\n"]) == ("nothing", False)


# ---------------------------------------------------------------------------------------------
# logits processing and sampling


def reference_top_k_top_p_filtering(logits, top_k=0, top_p=1.0, filter_value=-float("inf")):
    """The function the DExperts reference code calls (old transformers `top_k_top_p_filtering`),
    written out here as the oracle."""
    logits = logits.clone()
    if top_k > 0:
        top_k = min(top_k, logits.size(-1))
        indices_to_remove = logits < torch.topk(logits, top_k)[0][..., -1, None]
        logits[indices_to_remove] = filter_value
    if top_p < 1.0:
        sorted_logits, sorted_indices = torch.sort(logits, descending=True)
        cumulative_probs = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
        sorted_indices_to_remove = cumulative_probs > top_p
        sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()
        sorted_indices_to_remove[..., 0] = 0
        indices_to_remove = sorted_indices_to_remove.scatter(
            1, sorted_indices, sorted_indices_to_remove
        )
        logits[indices_to_remove] = filter_value
    return logits


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    top_p=st.floats(0.05, 0.999),
    rows=st.integers(1, 4),
    vocab=st.integers(2, 50),
)
def test_top_p_filter_matches_reference(seed, top_p, rows, vocab):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(rows, vocab, generator=g) * 3
    ours = top_p_filter(logits, top_p)
    ref = reference_top_k_top_p_filtering(logits, top_p=top_p)
    assert torch.equal(ours, ref)
    assert torch.equal(ours.argmax(-1), logits.argmax(-1))  # the best token always survives


def test_top_p_filter_small_example():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    out = top_p_filter(logits, 0.7)
    # 0.5 (cum 0.5) kept; 0.3 crosses 0.7 (cum 0.8) and is kept; the rest go
    assert torch.isfinite(out[0, :2]).all() and torch.isinf(out[0, 2:]).all()
    assert top_p_filter(logits, None) is logits and top_p_filter(logits, 1.0) is logits


def test_top_k_filter():
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0]])
    assert torch.isinf(top_k_filter(logits, 2)).tolist() == [[True, False, False, True]]
    assert top_k_filter(logits, 0) is logits
    assert torch.equal(top_k_filter(logits, 2), reference_top_k_top_p_filtering(logits, top_k=2))


def test_repetition_penalty_like_hf():
    logits = torch.tensor([[2.0, -2.0, 1.0]])
    seen = torch.tensor([[True, True, False]])
    assert apply_repetition_penalty(logits, seen, 2.0).tolist() == [[1.0, -4.0, 1.0]]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), u=st.floats(0.0, 1.0, exclude_max=True))
def test_sampling_never_picks_filtered_tokens(seed, u):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 20, generator=g)
    filtered = top_p_filter(logits, 0.5)
    tok = sample_with_uniforms(filtered, torch.full((3,), u))
    assert torch.isfinite(filtered.gather(1, tok[:, None])).all()


def test_sampling_with_u_close_to_one_stays_in_support():
    logits = torch.tensor([[0.0, 0.0, float("-inf"), float("-inf")]])
    assert sample_with_uniforms(logits, torch.tensor([1.0 - 1e-9])).item() == 1
    assert sample_with_uniforms(logits, torch.tensor([0.0])).item() == 0


def test_inverse_cdf_sampling_follows_the_distribution():
    probs = torch.tensor([0.1, 0.6, 0.3])
    n = 10_000
    u = (torch.arange(n, dtype=torch.float32) + 0.5) / n  # evenly spread uniforms
    tok = sample_with_uniforms(torch.log(probs).expand(n, 3).contiguous(), u)
    freq = torch.bincount(tok, minlength=3).float() / n
    assert torch.allclose(freq, probs, atol=2e-3)


def test_uniforms_depend_only_on_the_row_seed():
    a = uniforms_for_seeds([1, 2, 3], 5, "cpu")
    b = uniforms_for_seeds([3, 1], 5, "cpu")
    assert torch.equal(a[0], b[1]) and torch.equal(a[2], b[0])
    assert ((a >= 0) & (a < 1)).all()


def test_select_tokens_greedy_and_temperature():
    logits = torch.tensor([[0.0, 1.0, 0.5]])
    greedy = DecodingParameters(do_sample=False)
    assert select_tokens(logits, greedy, None).item() == 1
    cold = DecodingParameters(temperature=1e-3)
    assert select_tokens(logits, cold, torch.tensor([0.99])).item() == 1
    with pytest.raises(ValueError):
        select_tokens(logits, DecodingParameters(), None)


# ---------------------------------------------------------------------------------------------
# DExperts combination (hand computation)


def test_combine_logits_by_hand_without_filter():
    base = torch.tensor([[1.0, 2.0, 0.0]])
    expert = torch.tensor([[0.5, -1.0, 3.0]])
    anti = torch.tensor([[0.0, 1.0, 1.0]])
    out = combine_logits(base, expert, anti, alpha=2.0, base_top_p_filter=None)
    # 1 + 2(0.5 - 0) = 2; 2 + 2(-1 - 1) = -2; 0 + 2(3 - 1) = 4
    assert out.tolist() == [[2.0, -2.0, 4.0]]


def test_combine_logits_by_hand_with_base_filter():
    base = torch.log(torch.tensor([[0.6, 0.3, 0.1]]))
    expert = torch.tensor([[0.0, 0.0, 5.0]])
    anti = torch.zeros(1, 3)
    out = combine_logits(base, expert, anti, alpha=2.0, base_top_p_filter=0.5)
    # top-p 0.5 on the base keeps only the 0.6 token; the expert cannot revive the others
    assert out[0, 0].item() == pytest.approx(math.log(0.6))
    assert torch.isinf(out[0, 1:]).all()
    out = combine_logits(base, expert, anti, alpha=2.0, base_top_p_filter=0.95)
    assert out[0, 2].item() == pytest.approx(math.log(0.1) + 10.0)


# ---------------------------------------------------------------------------------------------
# work items, packing, chunking and the out-of-memory retry


def _items(lengths, n=1):
    return make_work(
        [list(range(1, k + 1)) for k in lengths], [0] * len(lengths), list(range(len(lengths))), n
    )


def test_sort_for_batching_longest_first_and_samples_together():
    items = _items([2, 5, 3], n=2)
    order = [items[i] for i in sort_for_batching(items)]
    assert [(it.prompt_index, it.sample_index) for it in order] == [
        (1, 0),
        (1, 1),
        (2, 0),
        (2, 1),
        (0, 0),
        (0, 1),
    ]


def test_pack_left_and_dedupe():
    items = _items([2, 3], n=2)
    packed = pack(items, pad_id=0, device=torch.device("cpu"))
    assert packed.input_ids.tolist() == [[0, 1, 2], [1, 2, 3]]
    assert packed.attention_mask.tolist() == [[0, 1, 1], [1, 1, 1]]
    assert packed.row_map.tolist() == [0, 0, 1, 1]
    right = pack(_items([2, 3]), pad_id=9, device=torch.device("cpu"), side="right")
    assert right.input_ids.tolist() == [[1, 2, 9], [1, 2, 3]] and right.row_map is None
    seen = seen_mask(packed.row_ids, 5, torch.device("cpu"))
    assert seen[0].tolist() == [False, True, True, False, False]


def _fake_decoder(limit, calls):
    def decode(chunk):
        calls.append(len(chunk))
        if len(chunk) > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected)")
        return [(it.prompt_index, it.sample_index) for it in chunk]

    return decode


def test_generate_chunked_restores_order():
    items = _items([3, 1, 4, 1, 5], n=2)
    calls: list[int] = []
    out = generate_chunked(items, 3, _fake_decoder(100, calls))
    assert out == [(it.prompt_index, it.sample_index) for it in items]
    assert calls == [3, 3, 3, 1]


def test_generate_chunked_halves_on_out_of_memory():
    items = _items([4] * 10)
    calls: list[int] = []
    used: list[int] = []
    out = generate_chunked(items, 8, _fake_decoder(3, calls), batch_sizes_used=used)
    assert out == [(i, 0) for i in range(10)]
    assert calls[:3] == [8, 4, 2]  # 8 fails, 4 fails, 2 fits and stays
    assert used == [2, 2, 2, 2, 2]


def test_generate_chunked_gives_up_at_one_row():
    with pytest.raises(OutOfMemory, match="single sequence"):
        generate_chunked(_items([4, 4]), 2, _fake_decoder(0, []))


def test_generate_chunked_passes_other_errors_through():
    def boom(chunk):
        raise KeyError("x")

    with pytest.raises(KeyError):
        generate_chunked(_items([1]), 2, boom)
    with pytest.raises(ValueError):
        generate_chunked(_items([1]), 0, boom)


# ---------------------------------------------------------------------------------------------
# SystemCache and specs


class _FakeSystem:
    def __init__(self, spec):
        self.spec = dict(spec)
        self.released = False

    def release(self):
        self.released = True


def test_system_cache_loads_once_and_evicts_least_recently_used():
    loaded = []

    def loader(spec):
        loaded.append(spec["path"])
        return _FakeSystem(spec)

    cache = SystemCache(max_systems=2, loader=loader)
    a = cache.get({"kind": "causal", "path": "a"})
    assert cache.get({"path": "a", "kind": "causal"}) is a  # key order does not matter
    b = cache.get({"kind": "causal", "path": "b"})
    cache.get({"kind": "causal", "path": "a"})  # a is now the most recent
    cache.get({"kind": "causal", "path": "c"})  # evicts b
    assert loaded == ["a", "b", "c"] and b.released and not a.released
    assert {"kind": "causal", "path": "a"} in cache and {"kind": "causal", "path": "b"} not in cache
    assert len(cache) == 2 and cache.hits == 2 and cache.loads == 3
    cache.clear()
    assert len(cache) == 0 and a.released


def test_system_key_differs_by_option():
    assert system_key({"kind": "causal", "path": "a"}) != system_key(
        {"kind": "causal", "path": "a", "dtype": "float32"}
    )


def test_load_system_spec_errors():
    with pytest.raises(SystemSpecError, match="kind"):
        load_system({"kind": "gguf", "path": "x"})
    with pytest.raises(SystemSpecError, match="needs expert_path, antiexpert_path"):
        load_system({"kind": "dexperts", "base_path": "x"})
    with pytest.raises(SystemSpecError, match="unknown option.*temprature"):
        load_system({"kind": "causal", "path": "x", "temprature": 1})


def test_work_item_is_hashable_record():
    it = WorkItem(0, 1, 5, (1, 2))
    assert it.truncated == 0 and hash(it) == hash(WorkItem(0, 1, 5, (1, 2)))
