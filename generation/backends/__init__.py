"""Pure decoding backends (no Django): decoder-only, seq2seq and DExperts systems.

    system = load_causal_system("/models/zephyr", adapter_path="/models/sft", system_prompt="...")
    prompt = system.render_prompt([("Speaker", "I lost my job."), ("Listener", "Oh no."), ("Speaker", "Yes.")])
    [[g]] = system.generate([prompt], DecodingParameters(do_sample=False, max_new_tokens=40))

See README.md in this folder for the design.
"""

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
from .batching import generate_chunked
from .cache import SystemCache, SystemSpecError, load_system, system_key
from .dexperts import DExpertsSystem, combine_logits, load_dexperts
from .hf_causal import CausalSystem, CheckpointInfo, load_causal_system, validate_causal_checkpoint
from .seq2seq import Seq2SeqSystem, load_seq2seq_system, validate_seq2seq_checkpoint
from .system import HF_GENERATE, STEP_LOOP, TextSystem

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
