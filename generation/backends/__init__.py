"""Pure decoding backends (no Django): decoder-only, seq2seq and DExperts systems.

    system = load_causal_system("/models/zephyr", adapter_path="/models/sft", system_prompt="...")
    prompt = system.render_prompt([("Speaker", "I lost my job."), ("Listener", "Oh no."), ("Speaker", "Yes.")])
    [[g]] = system.generate([prompt], DecodingParameters(do_sample=False, max_new_tokens=40))

See README.md in this folder for the design.

The torch-free names (parameters, results, errors, seeds) are imported here; the ones whose
modules import torch are loaded on first use (PEP 562 `__getattr__`), so that the web
process, the validators and the importers can use `DecodingParameters` without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .base import (
    BACKEND_SCHEMA,
    FINISH_EOS,
    FINISH_LENGTH,
    FINISH_REASONS,
    FINISH_STOP_SEQUENCE,
    BackendError,
    CheckpointError,
    DecodingParameters,
    GeneratedText,
    InvalidParameters,
    OutOfMemory,
    backend_version,
    derive_seed,
)

if TYPE_CHECKING:
    from .batching import generate_chunked
    from .cache import SystemCache, SystemSpecError, load_system, system_key
    from .dexperts import DExpertsSystem, combine_logits, load_dexperts
    from .hf_causal import (
        CausalSystem,
        CheckpointInfo,
        load_causal_system,
        validate_causal_checkpoint,
    )
    from .seq2seq import Seq2SeqSystem, load_seq2seq_system, validate_seq2seq_checkpoint
    from .system import HF_GENERATE, STEP_LOOP, TextSystem

#: name -> the submodule (importing torch) that defines it.
_TORCH_NAMES = {
    "generate_chunked": "batching",
    "SystemCache": "cache",
    "SystemSpecError": "cache",
    "load_system": "cache",
    "system_key": "cache",
    "DExpertsSystem": "dexperts",
    "combine_logits": "dexperts",
    "load_dexperts": "dexperts",
    "CausalSystem": "hf_causal",
    "CheckpointInfo": "hf_causal",
    "load_causal_system": "hf_causal",
    "validate_causal_checkpoint": "hf_causal",
    "Seq2SeqSystem": "seq2seq",
    "load_seq2seq_system": "seq2seq",
    "validate_seq2seq_checkpoint": "seq2seq",
    "HF_GENERATE": "system",
    "STEP_LOOP": "system",
    "TextSystem": "system",
}


def __getattr__(name: str) -> Any:
    module = _TORCH_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


__all__ = [
    "BACKEND_SCHEMA",
    "FINISH_EOS",
    "FINISH_LENGTH",
    "FINISH_REASONS",
    "FINISH_STOP_SEQUENCE",
    "HF_GENERATE",
    "STEP_LOOP",
    "BackendError",
    "CausalSystem",
    "CheckpointError",
    "CheckpointInfo",
    "DExpertsSystem",
    "DecodingParameters",
    "GeneratedText",
    "InvalidParameters",
    "OutOfMemory",
    "Seq2SeqSystem",
    "SystemCache",
    "SystemSpecError",
    "TextSystem",
    "backend_version",
    "combine_logits",
    "derive_seed",
    "generate_chunked",
    "load_causal_system",
    "load_dexperts",
    "load_seq2seq_system",
    "load_system",
    "system_key",
    "validate_causal_checkpoint",
    "validate_seq2seq_checkpoint",
]
