"""How a checkpoint's weights are loaded: quantisation, attention implementation, device map.

`load_plan` turns the system options into the keyword arguments of `from_pretrained` and says
whether the loaded model may then be moved with `.to(device)`: a bitsandbytes-quantised model
must not be (bitsandbytes places the weights while loading and refuses `.to`), nor a model
spread over devices by a `device_map`. The optional packages (bitsandbytes, flash-attn,
accelerate) are looked up before loading, so a missing one is a clear `CheckpointError`, not
an import error deep inside transformers.

Why not always `device_map`: for a model that fits one device, `.to(device)` after a plain
load is the path every test runs; the `device_map` path needs accelerate and places modules
with hooks.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from typing import Any

import torch

from .base import CheckpointError

QUANTIZATIONS = ("4bit", "8bit")
ATTENTION_IMPLEMENTATIONS = ("auto", "sdpa", "eager", "flash_attention_2")
DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")


@dataclass(frozen=True)
class LoadPlan:
    """`from_pretrained` keyword arguments, and whether to call `.to(device)` afterwards."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    move_to_device: bool = True

    @property
    def static_cache_default(self) -> bool | str:
        """Quantised or spread models decode with the dynamic cache unless asked otherwise
        (the static cache and CUDA graph are tested on one device with plain weights)."""
        return "auto" if self.move_to_device else False


def installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def load_plan(
    dtype: torch.dtype,
    device: torch.device,
    *,
    quantization: str | None = None,
    attn_implementation: str = "auto",
    device_map: str | dict[str, Any] | None = None,
) -> LoadPlan:
    """Check the loading options against the device and the installed packages; raises
    `CheckpointError` naming the option."""
    kwargs: dict[str, Any] = {"dtype": dtype}
    if attn_implementation not in ATTENTION_IMPLEMENTATIONS:
        raise CheckpointError(
            f"attn_implementation must be one of {', '.join(ATTENTION_IMPLEMENTATIONS)}, "
            f"not {attn_implementation!r}"
        )
    if attn_implementation == "flash_attention_2":
        if not installed("flash_attn"):
            raise CheckpointError(
                "attn_implementation='flash_attention_2' needs the flash-attn package, which "
                "is not installed on this worker; use 'sdpa'"
            )
        if device.type != "cuda" or dtype not in (torch.bfloat16, torch.float16):
            raise CheckpointError(
                "attn_implementation='flash_attention_2' needs a CUDA device and bfloat16 or "
                f"float16 weights, not {device.type} / {str(dtype).replace('torch.', '')}"
            )
    if attn_implementation != "auto":
        kwargs["attn_implementation"] = attn_implementation
    if device_map is not None:
        if isinstance(device_map, str) and device_map not in DEVICE_MAPS:
            raise CheckpointError(
                f"device_map must be one of {', '.join(DEVICE_MAPS)} or a mapping of module "
                f"names to devices, not {device_map!r}"
            )
        if not installed("accelerate"):
            raise CheckpointError(
                "device_map needs the accelerate package (pip install accelerate)"
            )
        kwargs["device_map"] = device_map
    if quantization is not None:
        kwargs["quantization_config"] = _quantization_config(quantization, dtype, device)
        # bitsandbytes places the weights while loading: on this worker's device unless told
        kwargs.setdefault("device_map", {"": device.index if device.index is not None else 0})
    return LoadPlan(kwargs, move_to_device="device_map" not in kwargs)


def _quantization_config(quantization: str, dtype: torch.dtype, device: torch.device):
    if quantization not in QUANTIZATIONS:
        raise CheckpointError(
            f"quantization must be one of {', '.join(QUANTIZATIONS)} or null, not {quantization!r}"
        )
    if device.type != "cuda":
        raise CheckpointError(
            f"quantization={quantization!r} (bitsandbytes) needs a CUDA device, not {device.type}"
        )
    if not installed("bitsandbytes"):
        raise CheckpointError(
            f"quantization={quantization!r} needs the bitsandbytes package, which is not "
            "installed on this worker: pip install 'evalsite[quantization]'"
        )
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    # QLoRA's settings (NF4, double quantisation), computing in the model's dtype
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )
