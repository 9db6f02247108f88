"""DExperts (Liu et al., 2021): decode from base + alpha * (expert - anti-expert).

At every step each of the three models runs one forward over its own KV cache (each is a
`CausalStepper`, so each gets the static cache / CUDA graph on GPU); the combined logits are

    z = filter(z_base) + alpha * (z_expert - z_antiexpert)

where `filter` is the reference implementation's nucleus filter on the base logits
(`base_top_p_filter`, 0.9 in the reference; None switches it off, which is the formula as
printed in the paper). Filtered base tokens stay at -inf whatever the experts say. Selection
then follows `DecodingParameters` (greedy, or temperature / top-k / top-p sampling on z).
The variant in use is recorded in every result (`variant`, e.g. "alpha=2.0;base_top_p=0.9").
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .base import CheckpointError
from .batching import PackedBatch
from .hf_causal import (
    _has_tokenizer_files,
    _inspect_causal,
    _tokenizer_folder,
    load_causal_model,
    load_config,
    load_tokenizer,
    loading_info,
)
from .loading import load_plan
from .loop import CausalStepper, resolve_device, resolve_dtype
from .sampling import top_p_filter
from .system import TextSystem


def combine_logits(
    base: torch.Tensor,
    expert: torch.Tensor,
    antiexpert: torch.Tensor,
    alpha: float,
    base_top_p_filter: float | None,
) -> torch.Tensor:
    """filter(base) + alpha * (expert - antiexpert), in float32."""
    filtered = top_p_filter(base.float(), base_top_p_filter)
    return filtered + alpha * (expert.float() - antiexpert.float())


def _check_vocabularies(base_path: Path, others: dict[str, Path], base_tokenizer) -> None:
    base_vocab = int(load_config(base_path, "base model").get_text_config(decoder=True).vocab_size)
    base_ids = base_tokenizer.get_vocab()
    for role, path in others.items():
        vocab = int(load_config(path, role).get_text_config(decoder=True).vocab_size)
        if vocab != base_vocab:
            raise CheckpointError(
                f"DExperts needs one vocabulary: the base model has {base_vocab} logits but the {role} "
                f"in {str(path)!r} has {vocab}"
            )
        tok_dir = _tokenizer_folder(path, None, None)
        if not _has_tokenizer_files(tok_dir):
            continue  # no tokenizer saved with this model: it uses the base tokenizer
        tok = load_tokenizer(tok_dir, f"{role} tokenizer")
        if tok.get_vocab() != base_ids:
            raise CheckpointError(
                f"DExperts needs one tokenizer: the {role} tokenizer in {str(tok_dir)!r} maps tokens to "
                "different ids than the base tokenizer"
            )


class DExpertsSystem(TextSystem):
    """Base, expert and anti-expert decoder-only models sharing the base tokenizer."""

    backend_name = "dexperts"
    padding_side = "left"
    supports_hf_generate = False

    def __init__(
        self,
        base,
        expert,
        antiexpert,
        tokenizer,
        *,
        alpha: float,
        base_top_p_filter: float | None,
        stepper_options: dict | None = None,
        **kwargs,
    ):
        super().__init__(tokenizer=tokenizer, model_for_ids=base, **kwargs)
        self.alpha = float(alpha)
        self.base_top_p_filter = base_top_p_filter
        opts = stepper_options or {}
        self.base, self.expert, self.antiexpert = base, expert, antiexpert
        self.steppers = [CausalStepper(m, **opts) for m in (base, expert, antiexpert)]

    @property
    def variant(self) -> str:
        filt = "none" if self.base_top_p_filter is None else f"{self.base_top_p_filter:g}"
        return f"alpha={self.alpha:g};base_top_p={filt}"

    def _combine(self, logits: list[torch.Tensor]) -> torch.Tensor:
        return combine_logits(logits[0], logits[1], logits[2], self.alpha, self.base_top_p_filter)

    def _open(self, packed: PackedBatch, max_new_tokens: int):
        first = self._combine(
            [
                s.prefill(packed.input_ids, packed.attention_mask, packed.row_map, max_new_tokens)
                for s in self.steppers
            ]
        )

        def step(tokens: torch.Tensor) -> torch.Tensor:
            return self._combine([s.step(tokens) for s in self.steppers])

        def finish() -> None:
            for s in self.steppers:
                s.finish()

        return first, step, finish

    @torch.inference_mode()
    def first_step_logits(self, prompts: list[str]) -> torch.Tensor:
        """Combined logits for the first new token of each rendered prompt ([prompts, vocab])."""
        from .batching import make_work, pack

        encoded = [self.encode_prompt(p, 1) for p in prompts]
        items = make_work([e[0] for e in encoded], [0] * len(prompts), list(range(len(prompts))), 1)
        packed = pack(items, self.pad_id, self.device, side="left")
        first, _, finish = self._open(packed, 1)
        finish()
        return first

    def describe(self) -> dict:
        d = super().describe()
        d["static_cache"] = self.steppers[0].use_static
        d["cuda_graph"] = all(s.use_graph and not s.graph_failed for s in self.steppers)
        return d

    def _steppers(self) -> list:
        return list(self.steppers)

    def release(self) -> None:
        for s in self.steppers:
            s.release()


def load_dexperts(
    base_path: str | os.PathLike,
    expert_path: str | os.PathLike,
    antiexpert_path: str | os.PathLike,
    *,
    alpha: float = 2.0,
    base_top_p_filter: float | None = 0.9,
    dtype: str | torch.dtype = "auto",
    device: str | torch.device = "auto",
    listener_label: str = "Listener",
    system_prompt: str | None = None,
    static_cache: bool | str = "auto",
    cuda_graph: bool | str = "auto",
    max_prompt_tokens: int | None = None,
    quantization: str | None = None,
    attn_implementation: str = "auto",
) -> DExpertsSystem:
    """Load the three models (the tokenizer comes from the base folder) after checking that
    they share a vocabulary. Prompts are rendered plainly (no chat template)."""
    if not isinstance(alpha, int | float) or isinstance(alpha, bool) or alpha != alpha:
        raise CheckpointError(f"alpha must be a number, not {alpha!r}")
    if base_top_p_filter is not None and not (0.0 < float(base_top_p_filter) <= 1.0):
        raise CheckpointError(
            f"base_top_p_filter must be in (0, 1] or None, not {base_top_p_filter!r}"
        )
    info, tokenizer = _inspect_causal(base_path, None, None)
    others = {}
    for role, path in (("expert", expert_path), ("anti-expert", antiexpert_path)):
        others[role] = Path(_inspect_causal_model_only(path, role))
    _check_vocabularies(Path(info.path), others, tokenizer)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    plan = load_plan(
        torch_dtype, dev, quantization=quantization, attn_implementation=attn_implementation
    )
    base = load_causal_model(Path(info.path), torch_dtype, dev, plan)
    expert = load_causal_model(others["expert"], torch_dtype, dev, plan)
    antiexpert = load_causal_model(others["anti-expert"], torch_dtype, dev, plan)
    if not plan.move_to_device:  # quantised: the dynamic cache unless asked otherwise
        static_cache = plan.static_cache_default if static_cache == "auto" else static_cache
        cuda_graph = False if cuda_graph == "auto" else cuda_graph
    return DExpertsSystem(
        base,
        expert,
        antiexpert,
        tokenizer,
        alpha=alpha,
        base_top_p_filter=None if base_top_p_filter is None else float(base_top_p_filter),
        stepper_options={"static_cache": static_cache, "cuda_graph": cuda_graph},
        device=dev,
        dtype=torch_dtype,
        chat_template=False,
        system_prompt=system_prompt,
        listener_label=listener_label,
        max_prompt_positions=info.max_positions,
        max_prompt_tokens=max_prompt_tokens,
        info={
            "base_path": info.path,
            "expert_path": str(others["expert"]),
            "antiexpert_path": str(others["anti-expert"]),
            "model_type": info.model_type,
            "alpha": float(alpha),
            "base_top_p_filter": base_top_p_filter,
            **loading_info(base, quantization),
        },
    )


def _inspect_causal_model_only(path, role: str) -> str:
    """Config, architecture and weights of an expert (its tokenizer is optional)."""
    from .hf_causal import _check_causal_architecture, _folder, check_weights

    p = _folder(path, role)
    config = load_config(p, role)
    if getattr(config, "is_encoder_decoder", False):
        raise CheckpointError(
            f"the {role} in {str(p)!r} is an encoder-decoder model; DExperts needs causal LMs"
        )
    _check_causal_architecture(config, p)
    check_weights(p, role)
    return str(p)
