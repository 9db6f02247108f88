"""Encoder-decoder (T5-style) models through `AutoModelForSeq2SeqLM`, same interface as causal."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .base import CheckpointError
from .batching import PackedBatch
from .hf_causal import (
    CheckpointInfo,
    _folder,
    _max_positions,
    check_weights,
    load_config,
    load_tokenizer,
)
from .loop import Seq2SeqStepper, resolve_device, resolve_dtype
from .system import TextSystem


def _inspect_seq2seq(path, tokenizer_path=None):
    p = _folder(path, "model")
    config = load_config(p)
    if not getattr(config, "is_encoder_decoder", False):
        raise CheckpointError(
            f"{str(p)!r} holds a decoder-only {config.model_type!r} model; use the causal backend"
        )
    try:
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES,
        )
    except ImportError:  # pragma: no cover
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES = None
    if (
        MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES is not None
        and config.model_type not in MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES
    ):
        raise CheckpointError(
            f"{str(p)!r} holds a {config.model_type!r} model, which is not a seq2seq language model"
        )
    check_weights(p)
    tok_dir = _folder(tokenizer_path, "tokenizer") if tokenizer_path is not None else p
    tok = load_tokenizer(tok_dir)
    vocab = int(config.vocab_size)
    if len(tok) > vocab:
        raise CheckpointError(
            f"the tokenizer in {str(tok_dir)!r} has {len(tok)} tokens but the model's vocabulary has {vocab}"
        )
    info = CheckpointInfo(
        path=str(p),
        model_type=config.model_type,
        vocab_size=vocab,
        tokenizer_size=len(tok),
        tokenizer_path=str(tok_dir),
        has_chat_template=bool(getattr(tok, "chat_template", None)),
        max_positions=_max_positions(config),
    )
    return info, tok


def validate_seq2seq_checkpoint(path: str | os.PathLike, *, tokenizer_path=None) -> CheckpointInfo:
    """Cheap checks like `validate_causal_checkpoint`, for encoder-decoder models."""
    return _inspect_seq2seq(path, tokenizer_path)[0]


class Seq2SeqSystem(TextSystem):
    """A loaded encoder-decoder model. Prompts are right-padded for the encoder, which runs
    once per unique prompt; the decoder steps over a dynamic self-attention cache (no static
    cache or CUDA graph here)."""

    backend_name = "seq2seq"
    padding_side = "right"
    is_encoder_decoder = True

    def __init__(self, model, tokenizer, **kwargs):
        super().__init__(tokenizer=tokenizer, model_for_ids=model, **kwargs)
        self.model = model
        self.stepper = Seq2SeqStepper(model)

    def _open(self, packed: PackedBatch, max_new_tokens: int):
        first = self.stepper.prefill(
            packed.input_ids, packed.attention_mask, packed.row_map, max_new_tokens
        )
        return first, self.stepper.step, self.stepper.finish

    def _hf_model(self):
        return self.model

    def _decoder_start_token_id(self) -> int:
        return self.stepper.decoder_start_token_id

    def release(self) -> None:
        self.stepper.release()


def load_seq2seq_system(
    path: str | os.PathLike,
    *,
    dtype: str | torch.dtype = "auto",
    device: str | torch.device = "auto",
    chat_template: bool | None = False,
    system_prompt: str | None = None,
    listener_label: str = "Listener",
    tokenizer_path: str | os.PathLike | None = None,
    max_prompt_tokens: int | None = None,
    model_speaker: str | None = None,
) -> Seq2SeqSystem:
    """Load a T5-style checkpoint. Prompts are fitted to `max_prompt_tokens` and the config's
    position count (when it has one) by dropping the earliest turns (see prompts.py)."""
    from transformers import AutoModelForSeq2SeqLM

    info, tokenizer = _inspect_seq2seq(path, tokenizer_path)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat_template is True and not has_template:
        raise CheckpointError(
            f"chat_template=True but the tokenizer in {info.tokenizer_path!r} has no chat template"
        )
    use_template = has_template if chat_template is None else bool(chat_template)
    try:
        model = AutoModelForSeq2SeqLM.from_pretrained(str(Path(info.path)), dtype=torch_dtype)
    except Exception as exc:
        raise CheckpointError(f"cannot load the model weights in {info.path!r}: {exc}") from exc
    model = model.to(dev).eval()
    return Seq2SeqSystem(
        model,
        tokenizer,
        device=dev,
        dtype=torch_dtype,
        chat_template=use_template,
        system_prompt=system_prompt,
        listener_label=listener_label,
        max_prompt_positions=info.max_positions,
        max_prompt_tokens=max_prompt_tokens,
        model_speaker=model_speaker,
        info={
            "path": info.path,
            "model_type": info.model_type,
            "tokenizer_path": info.tokenizer_path,
        },
    )
