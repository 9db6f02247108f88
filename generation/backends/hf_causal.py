"""Decoder-only Hugging Face models (GPT-2, Mistral/Zephyr, ...), optionally with a LoRA adapter."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .base import CheckpointError
from .batching import PackedBatch
from .loading import LoadPlan, load_plan
from .loop import CausalStepper, model_device, resolve_device, resolve_dtype
from .system import TextSystem

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
ADAPTER_WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "spiece.model",
)


@dataclass(frozen=True)
class CheckpointInfo:
    """What `validate_*_checkpoint` learned without loading weights."""

    path: str
    model_type: str
    vocab_size: int
    tokenizer_size: int
    tokenizer_path: str
    has_chat_template: bool
    max_positions: int | None
    adapter_path: str | None = None
    adapter: dict[str, Any] = field(default_factory=dict)


def _folder(path: str | os.PathLike, what: str) -> Path:
    if path is None or str(path) == "":
        raise CheckpointError(f"no {what} path given")
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{what} folder {str(p)!r} does not exist")
    if not p.is_dir():
        raise CheckpointError(f"{what} path {str(p)!r} is not a folder")
    return p


def _has_tokenizer_files(p: Path) -> bool:
    return any((p / name).exists() for name in TOKENIZER_FILES)


def load_config(path: str | os.PathLike, what: str = "model"):
    from transformers import AutoConfig

    p = _folder(path, what)
    if not (p / "config.json").exists():
        raise CheckpointError(f"{what} folder {str(p)!r} has no config.json")
    try:
        return AutoConfig.from_pretrained(str(p))
    except Exception as exc:
        raise CheckpointError(f"cannot read the {what} config in {str(p)!r}: {exc}") from exc


def check_weights(path: Path, what: str = "model") -> None:
    if not any((path / name).exists() for name in WEIGHT_FILES):
        raise CheckpointError(
            f"{what} folder {str(path)!r} has no weights (expected one of {', '.join(WEIGHT_FILES)})"
        )


def load_tokenizer(path: str | os.PathLike, what: str = "tokenizer"):
    from transformers import AutoTokenizer

    p = Path(path)
    if not _has_tokenizer_files(p):
        raise CheckpointError(
            f"{what} folder {str(p)!r} has no tokenizer files ({', '.join(TOKENIZER_FILES)})"
        )
    try:
        tok = AutoTokenizer.from_pretrained(str(p))
    except Exception as exc:
        raise CheckpointError(
            f"cannot load the tokenizer in {str(p)!r}: {type(exc).__name__}: {exc}"
        ) from exc
    if not callable(tok) or not hasattr(tok, "decode"):
        raise CheckpointError(f"{str(p)!r} does not hold a text tokenizer")
    return tok


def _max_positions(config) -> int | None:
    cfg = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(cfg, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _tokenizer_folder(
    path: Path, adapter: Path | None, tokenizer_path: str | os.PathLike | None
) -> Path:
    """Explicit tokenizer path, else the adapter folder when it has tokenizer files, else the model's."""
    if tokenizer_path is not None:
        return _folder(tokenizer_path, "tokenizer")
    if adapter is not None and _has_tokenizer_files(adapter):
        return adapter
    return path


def validate_causal_checkpoint(
    path: str | os.PathLike,
    adapter_path: str | os.PathLike | None = None,
    *,
    tokenizer_path: str | os.PathLike | None = None,
) -> CheckpointInfo:
    """Cheap checks (no weights loaded): the folder exists, config and tokenizer load, the
    model is decoder-only, weights are present, the tokenizer fits the embedding, and the
    adapter (if any) has a readable PEFT config and weights. Raises `CheckpointError`."""
    return _inspect_causal(path, adapter_path, tokenizer_path)[0]


def _inspect_causal(path, adapter_path, tokenizer_path) -> tuple[CheckpointInfo, Any]:
    p = _folder(path, "model")
    config = load_config(p)
    if getattr(config, "is_encoder_decoder", False):
        raise CheckpointError(
            f"{str(p)!r} is an encoder-decoder model ({config.model_type}); use the seq2seq backend"
        )
    _check_causal_architecture(config, p)
    check_weights(p)
    adapter = _folder(adapter_path, "adapter") if adapter_path is not None else None
    tok_dir = _tokenizer_folder(p, adapter, tokenizer_path)
    tok = load_tokenizer(tok_dir)
    vocab = int(config.get_text_config(decoder=True).vocab_size)
    if len(tok) > vocab:
        raise CheckpointError(
            f"the tokenizer in {str(tok_dir)!r} has {len(tok)} tokens but the model's vocabulary has {vocab}"
        )
    adapter_info: dict[str, Any] = {}
    if adapter is not None:
        adapter_info = validate_adapter(adapter)
    info = CheckpointInfo(
        path=str(p),
        model_type=config.model_type,
        vocab_size=vocab,
        tokenizer_size=len(tok),
        tokenizer_path=str(tok_dir),
        has_chat_template=bool(getattr(tok, "chat_template", None)),
        max_positions=_max_positions(config),
        adapter_path=str(adapter) if adapter is not None else None,
        adapter=adapter_info,
    )
    return info, tok


def _check_causal_architecture(config, p: Path) -> None:
    try:
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    except ImportError:  # pragma: no cover
        return
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise CheckpointError(
            f"{str(p)!r} holds a {config.model_type!r} model, which is not a causal language model"
        )


def validate_adapter(adapter: Path) -> dict[str, Any]:
    cfg_file = adapter / "adapter_config.json"
    if not cfg_file.exists():
        raise CheckpointError(f"adapter folder {str(adapter)!r} has no adapter_config.json")
    try:
        raw = json.loads(cfg_file.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"cannot read {str(cfg_file)!r}: {exc}") from exc
    try:
        from peft import PeftConfig

        PeftConfig.from_pretrained(str(adapter))
    except Exception as exc:
        raise CheckpointError(
            f"cannot read the PEFT adapter config in {str(adapter)!r}: {exc}"
        ) from exc
    if not any((adapter / name).exists() for name in ADAPTER_WEIGHT_FILES):
        raise CheckpointError(
            f"adapter folder {str(adapter)!r} has no weights (expected one of {', '.join(ADAPTER_WEIGHT_FILES)})"
        )
    return {
        "peft_type": raw.get("peft_type"),
        "r": raw.get("r"),
        "lora_alpha": raw.get("lora_alpha"),
        "base_model_name_or_path": raw.get("base_model_name_or_path"),
    }


def load_causal_model(
    path: Path, dtype: torch.dtype, device: torch.device, plan: LoadPlan | None = None
):
    """The model's weights, per `plan` (loading.py): a quantised or device-mapped model is
    placed by transformers while loading and is not moved afterwards."""
    from transformers import AutoModelForCausalLM

    plan = plan or load_plan(dtype, device)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(path), **plan.kwargs)
    except Exception as exc:
        raise CheckpointError(f"cannot load the model weights in {str(path)!r}: {exc}") from exc
    if plan.move_to_device:
        model = model.to(device)
    return model.eval()


def loading_info(model, quantization: str | None, device_map: Any = None) -> dict[str, Any]:
    """What `describe()` records of how the weights were loaded (the attention really used;
    the device map accelerate made, else the one asked for)."""
    placed = getattr(model, "hf_device_map", None)
    return {
        "quantization": quantization,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "device_map": dict(placed) if placed else device_map,
    }


class CausalSystem(TextSystem):
    """A loaded decoder-only model and its tokenizer. Build with `load_causal_system`."""

    backend_name = "hf_causal"
    padding_side = "left"

    def __init__(
        self, model, tokenizer, *, peft_model=None, stepper_options: dict | None = None, **kwargs
    ):
        super().__init__(tokenizer=tokenizer, model_for_ids=model, **kwargs)
        self.model = model  # the transformers model (LoRA layers injected when not merged)
        self.peft_model = peft_model
        self.stepper = CausalStepper(model, **(stepper_options or {}))

    def _open(self, packed: PackedBatch, max_new_tokens: int):
        first = self.stepper.prefill(
            packed.input_ids, packed.attention_mask, packed.row_map, max_new_tokens
        )
        return first, self.stepper.step, self.stepper.finish

    def _hf_model(self):
        return self.model

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["static_cache"] = self.stepper.use_static
        d["cuda_graph"] = self.stepper.use_graph and not self.stepper.graph_failed
        return d

    def _steppers(self) -> list:
        return [self.stepper]

    def release(self) -> None:
        self.stepper.release()


def load_causal_system(
    path: str | os.PathLike,
    *,
    dtype: str | torch.dtype = "auto",
    device: str | torch.device = "auto",
    adapter_path: str | os.PathLike | None = None,
    merge_adapter: bool = True,
    chat_template: bool | None = None,
    system_prompt: str | None = None,
    listener_label: str = "Listener",
    tokenizer_path: str | os.PathLike | None = None,
    static_cache: bool | str = "auto",
    cuda_graph: bool | str = "auto",
    model_speaker: str | None = None,
    max_prompt_tokens: int | None = None,
    quantization: str | None = None,
    attn_implementation: str = "auto",
    device_map: str | dict[str, Any] | None = None,
) -> CausalSystem:
    """Validate, then load a decoder-only checkpoint (and LoRA adapter) for generation.

    dtype "auto": bfloat16 on a CUDA device that supports it, else float32. device "auto":
    CUDA when available. chat_template None: use the tokenizer's template when it has one;
    True: require one; False: plain "Speaker: ...\\nListener:" prompts. merge_adapter folds
    the LoRA weights into the base weights (faster; tiny numeric differences in bf16).
    model_speaker: the speaker whose turns are the model's (see prompts.py). max_prompt_tokens:
    prompts are fitted to it (and to the model's positions) by dropping the earliest turns.
    quantization ("4bit", "8bit": bitsandbytes, CUDA), attn_implementation ("auto", "sdpa",
    "eager", "flash_attention_2") and device_map (for models larger than one device): see
    loading.py; a quantised or mapped model decodes with the dynamic cache unless
    static_cache/cuda_graph say otherwise.
    """
    info, tokenizer = _inspect_causal(path, adapter_path, tokenizer_path)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if chat_template is True and not has_template:
        raise CheckpointError(
            f"chat_template=True but the tokenizer in {info.tokenizer_path!r} has no chat template"
        )
    use_template = has_template if chat_template is None else bool(chat_template)
    plan = load_plan(
        torch_dtype,
        dev,
        quantization=quantization,
        attn_implementation=attn_implementation,
        device_map=device_map,
    )
    model = load_causal_model(Path(info.path), torch_dtype, dev, plan)
    peft_model = None
    if adapter_path is not None:
        from peft import PeftModel

        try:
            peft_model = PeftModel.from_pretrained(model, str(adapter_path))
        except Exception as exc:
            raise CheckpointError(
                f"cannot apply the adapter in {str(adapter_path)!r}: {exc}"
            ) from exc
        peft_model.eval()
        if merge_adapter:
            model = peft_model.merge_and_unload()
            peft_model = None
        else:
            model = peft_model.get_base_model()
        model = (model.to(dev) if plan.move_to_device else model).eval()
    if not plan.move_to_device:
        dev = model_device(model)  # inputs go where the embeddings are
        static_cache = plan.static_cache_default if static_cache == "auto" else static_cache
        cuda_graph = False if cuda_graph == "auto" else cuda_graph
    return CausalSystem(
        model,
        tokenizer,
        peft_model=peft_model,
        stepper_options={"static_cache": static_cache, "cuda_graph": cuda_graph},
        device=dev,
        dtype=torch_dtype,
        chat_template=use_template,
        system_prompt=system_prompt,
        listener_label=listener_label,
        max_prompt_positions=info.max_positions,
        max_prompt_tokens=max_prompt_tokens,
        model_speaker=model_speaker,
        with_peft=adapter_path is not None,
        info={
            "path": info.path,
            "model_type": info.model_type,
            "adapter_path": info.adapter_path,
            "adapter": info.adapter,
            "adapter_merged": bool(adapter_path is not None and merge_adapter),
            "tokenizer_path": info.tokenizer_path,
            **loading_info(model, quantization, device_map),
        },
    )
