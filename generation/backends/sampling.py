"""Logits processing and token selection, on the device, for batches of rows.

All functions take float32 logits of shape [rows, vocab] and return new tensors (inputs are
not modified). Sampling uses one uniform number per row and step, drawn up front from a
per-sequence seed (see `uniforms_for_seeds`), and picks the token by inverting the cumulative
distribution: the choice then depends only on that row's own logits and seed, never on which
other rows share the batch or on the device's random number generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import DecodingParameters

NEG_INF = float("-inf")


def top_k_filter(logits: torch.Tensor, top_k: int) -> torch.Tensor:
    """Keep the `top_k` highest logits of each row (ties with the k-th are kept), -inf elsewhere."""
    if top_k <= 0 or top_k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, NEG_INF)


def top_p_filter(logits: torch.Tensor, top_p: float | None) -> torch.Tensor:
    """Nucleus filter exactly as the DExperts reference code (`top_k_top_p_filtering`).

    Sort descending; remove a token when the cumulative probability of the tokens before it
    already exceeds `top_p` (so the token that crosses `top_p` is kept, and so is the best one).
    Removed logits become -inf. Hugging Face's `TopPLogitsWarper` differs only when a cumulative
    probability equals `top_p` exactly.
    """
    if top_p is None or top_p >= 1.0:
        return logits
    sorted_logits, sorted_idx = torch.sort(logits, dim=-1, descending=True)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove_sorted = cumulative > top_p
    remove_sorted[..., 1:] = remove_sorted[..., :-1].clone()
    remove_sorted[..., 0] = False
    remove = remove_sorted.scatter(-1, sorted_idx, remove_sorted)
    return logits.masked_fill(remove, NEG_INF)


def apply_repetition_penalty(
    logits: torch.Tensor, seen: torch.Tensor, penalty: float
) -> torch.Tensor:
    """CTRL-style penalty as in Hugging Face: seen tokens' logits are divided by `penalty` when
    positive and multiplied when negative. `seen` is a bool [rows, vocab] mask (prompt tokens,
    padding excluded, plus generated tokens)."""
    penalised = torch.where(logits < 0, logits * penalty, logits / penalty)
    return torch.where(seen, penalised, logits)


def suppress_tokens(logits: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """Set the logits of `token_ids` (1-D) to -inf in every row."""
    if token_ids.numel() == 0:
        return logits
    out = logits.clone()
    out[:, token_ids] = NEG_INF
    return out


def sample_with_uniforms(logits: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sampling: the first token whose cumulative probability exceeds u * total.

    Tokens with zero probability (-inf logits) are never chosen. `uniforms` is [rows] in [0, 1).
    """
    probs = torch.softmax(logits, dim=-1)
    cdf = probs.cumsum(dim=-1)
    target = uniforms.to(cdf.dtype).unsqueeze(-1) * cdf[:, -1:]
    idx = torch.searchsorted(cdf, target, right=True).squeeze(-1)
    # Rounding can put the target at the very top of the CDF (u close to 1): fall back to the
    # last token that has a non-zero probability rather than a filtered one.
    positions = torch.arange(logits.shape[-1], device=logits.device)
    last_possible = torch.where(probs > 0, positions, 0).amax(dim=-1)
    return torch.minimum(idx, last_possible)


def select_tokens(
    logits: torch.Tensor, params: DecodingParameters, uniforms: torch.Tensor | None
) -> torch.Tensor:
    """Greedy (argmax, first index on ties, like torch/HF) or temperature/top-k/top-p sampling."""
    if not params.do_sample:
        return logits.argmax(dim=-1)
    if uniforms is None:
        raise ValueError("sampling needs one uniform number per row")
    if params.temperature != 1.0:
        logits = logits / params.temperature
    logits = top_k_filter(logits, params.top_k)
    logits = top_p_filter(logits, params.top_p)
    return sample_with_uniforms(logits, uniforms)


def uniforms_for_seeds(
    seeds: Sequence[int], steps: int, device: torch.device | str
) -> torch.Tensor:
    """[len(seeds), steps] uniforms in [0, 1): row i comes from a CPU generator seeded with seeds[i].

    Drawn on the CPU in float64 so that the numbers are the same on every machine, then moved.
    """
    rows = []
    for s in seeds:
        g = torch.Generator(device="cpu")
        g.manual_seed(int(s))
        rows.append(torch.rand(steps, generator=g, dtype=torch.float64))
    if not rows:
        return torch.empty(0, steps, dtype=torch.float32, device=device)
    return torch.stack(rows).to(dtype=torch.float32, device=device)


def process_logits(
    logits: torch.Tensor,
    *,
    params: DecodingParameters,
    step: int,
    eos_ids: torch.Tensor,
    seen: torch.Tensor | None,
) -> torch.Tensor:
    """Repetition penalty, then end-of-sequence suppression while step < min_new_tokens."""
    if seen is not None and params.repetition_penalty not in (None, 1.0):
        logits = apply_repetition_penalty(logits, seen, float(params.repetition_penalty))
    if step < params.min_new_tokens:
        logits = suppress_tokens(logits, eos_ids)
    return logits
