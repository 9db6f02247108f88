"""Decoding throughput: our step loop against Hugging Face `generate`, on one model and prompt set.

    .venv/bin/python bench/generation.py                       # --shape tiny, CPU, a few seconds
    .venv/bin/python bench/generation.py --shape mistral-7b    # GPU: random weights, Mistral-7B shapes, bf16
    .venv/bin/python bench/generation.py --shape gpt2-large-dexperts --batch-sizes 250,1000

Prints one JSON object. For each batch size B it times, on the same random prompts:
  ours          our step loop (on CUDA: static cache + CUDA graph; other --ours-modes too)
  hf_one        HF generate called one prompt at a time (as the seeds' code does)
  hf_batched    HF generate on the whole batch (left padding)
and reports tokens/s (new tokens of all rows / wall time, prefill included), ours/hf_batched,
and the share of the memory-bandwidth floor: a decoding step must read every weight and the
whole KV cache once, so at best it takes (weight bytes + mean KV bytes) / copy bandwidth, the
bandwidth being measured here with a large tensor copy (bytes read + bytes written / time).
For --shape gpt2-large-dexperts, "ours" is DExperts (three models) and the HF figures are the
base model alone, for scale only. Random weights are fine: speed does not depend on values.
Every run is warmed up once with the same shapes (so graph capture is not in the timings; its
one-off cost is reported as ours_first_call_s).

Before any speed is measured, the run checks equality: the same models rebuilt in
--check-dtype (float32 by default: random weights give near-tied logits, which bf16 kernels
may order differently) decode the first --check-rows prompts greedily in graph (emulated on
CPU), static and dynamic mode and with HF `generate` (DExperts: our base model alone against
HF on the base model), and every path must give the same token ids. Otherwise the JSON has
"equality" with the first difference, no speed figures, and the exit status is 1. The
systems' own graph self-check (selfcheck.py) is then marked as done by this check, so that it
does not, on near ties of random bf16 weights, switch the timed graph path to dynamic.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from generation.backends import DecodingParameters  # noqa: E402
from generation.backends.dexperts import DExpertsSystem  # noqa: E402
from generation.backends.hf_causal import CausalSystem  # noqa: E402
from generation.backends.selfcheck import first_difference  # noqa: E402

MODE_OPTIONS = {
    "graph": {"static_cache": True, "cuda_graph": True},
    "static": {"static_cache": True, "cuda_graph": False},
    "dynamic": {"static_cache": False, "cuda_graph": False},
}

SHAPES = {
    "tiny": {
        "arch": "gpt2",
        "config": dict(
            vocab_size=2048, n_positions=512, n_embd=128, n_layer=4, n_head=4, n_inner=512
        ),
        "batch_sizes": [1, 8, 32],
        "prompt_tokens": 24,
        "new_tokens": 24,
        "hf_one_prompts": 4,
    },
    "mistral-7b": {
        "arch": "mistral",
        "config": dict(
            vocab_size=32000,
            hidden_size=4096,
            intermediate_size=14336,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=8,
            max_position_embeddings=32768,
            sliding_window=4096,
            rope_theta=10000.0,
        ),
        "batch_sizes": [1, 64, 135],
        "prompt_tokens": 128,
        "new_tokens": 64,
        "hf_one_prompts": 3,
    },
    "gpt2-large-dexperts": {
        "arch": "gpt2",
        "dexperts": True,
        "config": dict(vocab_size=50257, n_positions=1024, n_embd=1280, n_layer=36, n_head=20),
        "batch_sizes": [250, 1000],
        "prompt_tokens": 24,
        "new_tokens": 20,
        "hf_one_prompts": 3,
    },
}


def synthetic_tokenizer(vocab_size: int):
    """A word-level tokenizer with exactly `vocab_size` tokens (t0, t1, ...) so that any id decodes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {f"t{i}": i for i in range(vocab_size)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="t0", pad_token="t0")
    with tempfile.TemporaryDirectory() as d:  # round trip through the real format
        fast.save_pretrained(d)
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(d)


def build_model(shape: dict, device: torch.device, dtype: torch.dtype, seed: int):
    from transformers import GPT2Config, GPT2LMHeadModel, MistralConfig, MistralForCausalLM

    torch.manual_seed(seed)
    if shape["arch"] == "gpt2":
        config, cls = (
            GPT2Config(**shape["config"], bos_token_id=None, eos_token_id=None),
            GPT2LMHeadModel,
        )
    else:
        config, cls = (
            MistralConfig(**shape["config"], bos_token_id=None, eos_token_id=None),
            MistralForCausalLM,
        )
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = cls(config)
    finally:
        torch.set_default_dtype(previous)
    model.generation_config.eos_token_id = None
    return model.eval()


def weight_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def kv_bytes_per_token(model) -> int:
    cfg = model.config
    layers = cfg.num_hidden_layers
    heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return 2 * layers * heads * head_dim * next(model.parameters()).element_size()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def copy_bandwidth(device: torch.device) -> float:
    """Bytes moved (read + written) per second by a large tensor copy."""
    n = (1 << 30) if device.type == "cuda" else (1 << 27)  # 1 GiB on GPU, 128 MiB on CPU
    src = torch.empty(n, dtype=torch.uint8, device=device).fill_(1)
    dst = torch.empty_like(src)
    dst.copy_(src)
    sync(device)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        dst.copy_(src)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n / best


def timed(fn, device, repeats: int = 1):
    """(last result, best wall time of `repeats` calls)."""
    best = float("inf")
    out = None
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        out = fn()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return out, best


def make_system(models, tokenizer, mode: str, device, dtype, dexperts: bool, label: str):
    """Our system over `models` in `mode` (graph on CPU: the emulated runner)."""
    opts = dict(MODE_OPTIONS[mode])
    if mode == "graph" and device.type != "cuda":
        opts["cuda_graph"] = "emulate"
    common = dict(
        device=device,
        dtype=dtype,
        chat_template=False,
        system_prompt=None,
        listener_label="Listener",
        max_prompt_positions=None,
        info={"shape": label},
    )
    if dexperts:
        system = DExpertsSystem(
            *models, tokenizer, alpha=2.0, base_top_p_filter=0.9, stepper_options=opts, **common
        )
    else:
        system = CausalSystem(models[0], tokenizer, stepper_options=opts, **common)
    system.eos_ids = []  # random weights: run every row to full length, in every method
    return system


def equality_check(shape, tokenizer, device, dtype, seed, n_models, dexperts, ids, new_tokens):
    """Greedy token ids of every path on the same models and prompts; see the module doc."""
    models = [build_model(shape, device, dtype, seed + i) for i in range(n_models)]
    greedy = DecodingParameters(do_sample=False, max_new_tokens=new_tokens)
    paths: dict[str, list] = {}
    for mode in ("graph", "static", "dynamic"):
        system = make_system(models, tokenizer, mode, device, dtype, dexperts, "check")
        system.graph_check.status = "checked_by_bench"  # this is the check: no fallback here
        out = system.generate_ids(ids, greedy, batch_size=len(ids))
        paths[mode] = [g.token_ids for [g] in out]
        paths[f"{mode}_used"] = system.graph_check.batch_mode()
        system.release()
    base = make_system(models[:1], tokenizer, "dynamic", device, dtype, False, "check")
    hf = base.generate_ids(ids, greedy, batch_size=len(ids), backend="hf_generate")
    paths["hf_generate"] = [g.token_ids for [g] in hf]
    if dexperts:  # HF has no DExperts: compare the base model alone
        paths["dynamic_base_only"] = [g.token_ids for [g] in base.generate_ids(ids, greedy)]
    pairs = [("graph", "dynamic"), ("static", "dynamic")]
    pairs.append(("hf_generate", "dynamic_base_only" if dexperts else "dynamic"))
    report: dict = {
        "dtype": str(dtype).replace("torch.", ""),
        "rows": len(ids),
        "new_tokens": new_tokens,
        "modes_used": {m: paths[f"{m}_used"] for m in ("graph", "static", "dynamic")},
        "compared": [f"{a} = {b}" for a, b in pairs],
        "equal": True,
    }
    if paths["graph_used"] not in ("graph", "emulated_graph"):
        report["equal"] = False
        report["first_difference"] = {"paths": "graph", "reason": "the graph was not used"}
        pairs = []
    for a, b in pairs:
        diff = first_difference(paths[a], paths[b])
        if diff is not None:
            row, pos, got, want = diff
            report["equal"] = False
            report["first_difference"] = {
                "paths": f"{a} vs {b}",
                "row": row,
                "token": pos,
                a: got,
                b: want,
            }
            break
    del models, base
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return report


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    ap.add_argument("--batch-sizes", help="comma-separated, e.g. 1,64,135")
    ap.add_argument("--prompt-tokens", type=int)
    ap.add_argument("--new-tokens", type=int)
    ap.add_argument("--hf-one-prompts", type=int, help="prompts for the one-at-a-time HF run")
    ap.add_argument("--decoding", choices=["top_p", "greedy"], default="top_p")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"])
    ap.add_argument(
        "--ours-modes",
        default=None,
        help="comma-separated of graph,static,dynamic (default: graph,dynamic on CUDA; dynamic on CPU)",
    )
    ap.add_argument(
        "--dexperts", action="store_true", help="time DExperts (three models of the shape) as ours"
    )
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default 1 on CPU: steadier)"
    )
    ap.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed calls per figure, best kept (default 3 tiny, 2 GPU)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--check-dtype",
        default="float32",
        choices=["float32", "same"],
        help="dtype of the greedy equality check (same: the run's dtype)",
    )
    ap.add_argument("--check-rows", type=int, default=16, help="prompts in the equality check")
    ap.add_argument("--check-tokens", type=int, default=16, help="new tokens in the check")
    args = ap.parse_args(argv)

    shape = SHAPES[args.shape]
    device = (
        torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if args.device == "auto"
        else torch.device(args.device)
    )
    if args.threads or device.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    if args.shape != "tiny" and device.type != "cuda":
        raise SystemExit(
            f"--shape {args.shape} needs a CUDA device (this machine has none); try --shape tiny"
        )
    if args.dtype == "auto":
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    else:
        dtype = getattr(torch, args.dtype)
    batch_sizes = (
        [int(b) for b in args.batch_sizes.split(",")] if args.batch_sizes else shape["batch_sizes"]
    )
    prompt_tokens = args.prompt_tokens or shape["prompt_tokens"]
    new_tokens = args.new_tokens or shape["new_tokens"]
    hf_one_prompts = args.hf_one_prompts or shape["hf_one_prompts"]
    modes = (args.ours_modes or ("graph,dynamic" if device.type == "cuda" else "dynamic")).split(
        ","
    )
    dexperts = bool(shape.get("dexperts")) or args.dexperts
    repeats = args.repeats or (3 if args.shape == "tiny" else 2)

    from transformers import __version__ as tf_version

    tokenizer = synthetic_tokenizer(shape["config"]["vocab_size"])
    n_models = 3 if dexperts else 1
    models = [build_model(shape, device, dtype, args.seed + i) for i in range(n_models)]
    w_bytes = sum(weight_bytes(m) for m in models)
    kv_tok = sum(kv_bytes_per_token(m) for m in models)
    bandwidth = copy_bandwidth(device)

    def make_ours(mode: str):
        system = make_system(models, tokenizer, mode, device, dtype, dexperts, args.shape)
        if system.graph_check.status == "pending":  # proved by the equality check above
            system.graph_check.status = "checked_by_bench"
        return system

    hf_system = make_system(models[:1], tokenizer, "dynamic", device, dtype, False, args.shape)

    if args.decoding == "greedy":
        params = DecodingParameters(do_sample=False, max_new_tokens=new_tokens, seed=args.seed)
    else:
        params = DecodingParameters(
            do_sample=True, top_p=0.9, max_new_tokens=new_tokens, seed=args.seed
        )

    gen = torch.Generator().manual_seed(args.seed)
    vocab = shape["config"]["vocab_size"]

    def prompts(n: int) -> list[list[int]]:
        # lengths vary a little so that left padding is exercised, as with real dialogues
        out = []
        for _ in range(n):
            length = int(
                prompt_tokens - torch.randint(0, max(1, prompt_tokens // 4), (1,), generator=gen)
            )
            out.append(torch.randint(1, vocab, (length,), generator=gen).tolist())
        return out

    check_ids = prompts(min(args.check_rows, max(batch_sizes)))
    check_dtype = torch.float32 if args.check_dtype == "float32" else dtype
    equality = equality_check(
        shape,
        tokenizer,
        device,
        check_dtype,
        args.seed,
        n_models,
        dexperts,
        check_ids,
        min(args.check_tokens, new_tokens),
    )
    if not equality["equal"]:
        print(json.dumps({"bench": "generation", "shape": args.shape, "equality": equality}))
        raise SystemExit(1)

    mean_len = prompt_tokens - prompt_tokens / 8 + new_tokens / 2
    runs = []
    for b in batch_sizes:
        ids = prompts(b)
        new_total = b * new_tokens
        run: dict = {"batch": b}
        floor_step = (w_bytes + kv_tok * b * mean_len) / bandwidth
        run["floor_tok_s"] = b / floor_step
        for mode in modes:
            system = make_ours(mode)
            call = functools.partial(system.generate_ids, ids, params, batch_size=b)
            first, t_first = timed(call, device)
            _, t = timed(call, device, repeats)
            assert all(g.new_tokens == new_tokens for r in first for g in r)
            key = "ours" if mode == modes[0] else f"ours_{mode}"
            run[f"{key}_tok_s"] = new_total / t
            run[f"{key}_first_call_s"] = t_first
            run[f"{key}_share_of_floor"] = (new_total / t) / run["floor_tok_s"]
            run[f"{key}_mode"] = system.graph_check.batch_mode()  # what the timed calls ran
            system.release()
            del system
        if not args.skip_hf:
            label = "hf_base_only" if dexperts else "hf"
            one = ids[: min(hf_one_prompts, b)]
            hf_system.generate_ids(one[:1], params, batch_size=1, backend="hf_generate")  # warm-up
            call = functools.partial(
                hf_system.generate_ids, one, params, batch_size=1, backend="hf_generate"
            )
            _, t = timed(call, device, repeats)
            run[f"{label}_one_at_a_time_tok_s"] = len(one) * new_tokens / t
            hf_system.generate_ids(ids, params, batch_size=b, backend="hf_generate")  # warm-up
            call = functools.partial(
                hf_system.generate_ids, ids, params, batch_size=b, backend="hf_generate"
            )
            _, t = timed(call, device, repeats)
            run[f"{label}_batched_tok_s"] = new_total / t
            if dexperts:  # one model: its own floor; the ratio only gives a sense of scale
                hf_floor = b / (
                    (weight_bytes(models[0]) + kv_bytes_per_token(models[0]) * b * mean_len)
                    / bandwidth
                )
                run[f"{label}_batched_share_of_its_floor"] = (new_total / t) / hf_floor
                run["ratio_ours_to_hf_base_only_batched"] = (
                    run["ours_tok_s"] / run[f"{label}_batched_tok_s"]
                )
            else:
                run[f"{label}_batched_share_of_floor"] = (new_total / t) / run["floor_tok_s"]
                run["ratio_ours_to_hf_batched"] = run["ours_tok_s"] / run[f"{label}_batched_tok_s"]
        runs.append(run)
        if device.type == "cuda":
            torch.cuda.empty_cache()

    result = {
        "bench": "generation",
        "shape": args.shape,
        "dexperts": dexperts,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)",
        "dtype": str(dtype).replace("torch.", ""),
        "torch": torch.__version__,
        "transformers": tf_version,
        "decoding": args.decoding,
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "repeats": repeats,
        "weights_bytes": w_bytes,
        "kv_bytes_per_token": kv_tok,
        "copy_bandwidth_GBps": bandwidth / 1e9,
        "equality": equality,
        "runs": [
            {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in runs
        ],
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
