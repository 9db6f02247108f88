"""Shared types of the decoding backends: parameters, results, errors, seeds, versions.

Pure Python plus torch/transformers version look-ups; no Django imports.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Bump when the decoding code changes in a way that can change outputs for the same inputs.
BACKEND_SCHEMA = 1

FINISH_EOS = "eos"
FINISH_STOP_SEQUENCE = "stop_sequence"
FINISH_LENGTH = "length"
FINISH_REASONS = (FINISH_EOS, FINISH_STOP_SEQUENCE, FINISH_LENGTH)


class BackendError(Exception):
    """Base class of the errors raised by the decoding backends."""


class CheckpointError(BackendError, ValueError):
    """A checkpoint (model, tokenizer or adapter folder) is missing or unusable."""


class InvalidParameters(BackendError, ValueError):
    """Decoding parameters that cannot be used; the message lists every problem."""


class OutOfMemory(BackendError, RuntimeError):
    """Even a batch of one sequence did not fit in accelerator memory."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class DecodingParameters:
    """How to decode. Frozen, validated on construction, serialisable with `as_dict`.

    Order of logits processing (the same as Hugging Face `generate`): repetition penalty,
    end-of-sequence suppression while fewer than `min_new_tokens` were generated, then (when
    sampling) temperature, top-k and top-p. `top_k=0` and `top_p=1.0` switch those filters off.
    Greedy decoding ignores temperature, top-k and top-p.

    `stop_sequences`: text is cut before the first occurrence of any of them (finish_reason
    "stop_sequence"); a stop sequence that is a single token also ends decoding of that
    sequence early, like an end-of-sequence token.
    """

    do_sample: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 20
    min_new_tokens: int = 0
    num_return_sequences: int = 1
    repetition_penalty: float | None = None
    seed: int = 0
    stop_sequences: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if isinstance(self.stop_sequences, str):
            object.__setattr__(self, "stop_sequences", (self.stop_sequences,))
        elif isinstance(self.stop_sequences, list | tuple):
            object.__setattr__(self, "stop_sequences", tuple(self.stop_sequences))
        problems = self.problems()
        if problems:
            raise InvalidParameters("invalid decoding parameters: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every reason these parameters are unusable (empty when they are fine)."""
        out: list[str] = []
        if not isinstance(self.do_sample, bool):
            out.append(f"do_sample must be true or false, not {self.do_sample!r}")
        if (
            not _is_number(self.temperature)
            or not math.isfinite(self.temperature)
            or self.temperature <= 0
        ):
            out.append(f"temperature must be a finite number > 0, not {self.temperature!r}")
        if not _is_number(self.top_p) or not (0.0 < self.top_p <= 1.0):
            out.append(f"top_p must be in (0, 1], not {self.top_p!r}")
        if not _is_int(self.top_k) or self.top_k < 0:
            out.append(f"top_k must be an integer >= 0 (0 = off), not {self.top_k!r}")
        if not _is_int(self.max_new_tokens) or self.max_new_tokens < 1:
            out.append(f"max_new_tokens must be an integer >= 1, not {self.max_new_tokens!r}")
        if not _is_int(self.min_new_tokens) or self.min_new_tokens < 0:
            out.append(f"min_new_tokens must be an integer >= 0, not {self.min_new_tokens!r}")
        elif _is_int(self.max_new_tokens) and self.min_new_tokens > self.max_new_tokens:
            out.append(
                f"min_new_tokens ({self.min_new_tokens}) must not exceed max_new_tokens ({self.max_new_tokens})"
            )
        if not _is_int(self.num_return_sequences) or self.num_return_sequences < 1:
            out.append(
                f"num_return_sequences must be an integer >= 1, not {self.num_return_sequences!r}"
            )
        elif self.do_sample is False and self.num_return_sequences > 1:
            out.append(
                "num_return_sequences > 1 with greedy decoding (do_sample=false) would return identical copies"
            )
        if self.repetition_penalty is not None and (
            not _is_number(self.repetition_penalty)
            or not math.isfinite(self.repetition_penalty)
            or self.repetition_penalty <= 0
        ):
            out.append(
                f"repetition_penalty must be null or a finite number > 0, not {self.repetition_penalty!r}"
            )
        if not _is_int(self.seed) or not (0 <= self.seed < 2**63):
            out.append(f"seed must be an integer in [0, 2**63), not {self.seed!r}")
        if not isinstance(self.stop_sequences, tuple) or not all(
            isinstance(s, str) and s for s in self.stop_sequences
        ):
            out.append(
                f"stop_sequences must be a list of non-empty strings, not {self.stop_sequences!r}"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict; `DecodingParameters.from_dict(p.as_dict()) == p`."""
        d = dataclasses.asdict(self)
        d["stop_sequences"] = list(self.stop_sequences)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecodingParameters:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidParameters(
                f"unknown decoding parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**dict(data))

    def replace(self, **changes: Any) -> DecodingParameters:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class GeneratedText:
    """One generated sequence: prompt `prompt_index` (position in the call), sample `sample_index`.

    `text` is the decoded continuation exactly as produced (special tokens removed, whitespace
    kept, cut before a stop sequence). `rendered_prompt` is the exact text given to the tokenizer.
    `seconds` is this sequence's share of its batch's wall time (batch time / rows in the batch),
    so summing `seconds` over a job gives its total decoding time; `batch_seconds` is the whole
    batch's wall time.
    """

    prompt_index: int
    sample_index: int
    text: str
    rendered_prompt: str
    prompt_tokens: int
    new_tokens: int
    finish_reason: str
    seconds: float
    batch_seconds: float
    seed: int
    backend: str
    backend_version: str
    variant: str = ""
    token_ids: tuple[int, ...] = ()
    prompt_truncated_tokens: int = 0

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["token_ids"] = list(self.token_ids)
        return d


def _short_version(version: str) -> str:
    """'2.13.0+cpu' -> '2.13.0' (the build tag is a property of the machine, not of the code)."""
    return re.split(r"[+]", version, maxsplit=1)[0]


def backend_version(name: str, *, with_peft: bool = False) -> str:
    """E.g. 'hf_causal/1 transformers 5.24.0 torch 2.13.0' (plus peft when an adapter is used)."""
    import torch
    import transformers

    parts = [
        f"{name}/{BACKEND_SCHEMA}",
        f"transformers {_short_version(transformers.__version__)}",
        f"torch {_short_version(torch.__version__)}",
    ]
    if with_peft:
        import peft

        parts.append(f"peft {_short_version(peft.__version__)}")
    return " ".join(parts)


def derive_seed(*parts: int | str) -> int:
    """A stable 63-bit seed from any parts (same on every machine and Python version)."""
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(repr(p).encode())
        h.update(b"\x1f")
    return int.from_bytes(h.digest(), "big") >> 1


def prompt_seeds_for(
    params: DecodingParameters, n_prompts: int, prompt_seeds: Sequence[int] | None
) -> list[int]:
    """Per-prompt seeds: the caller's (e.g. derived from job and context ids), else from params.seed.

    The default makes a prompt's samples depend on its position in the call; callers that split
    a job into chunks should pass seeds derived from something stable (the context id).
    """
    if prompt_seeds is None:
        return [derive_seed(params.seed, i) for i in range(n_prompts)]
    seeds = list(prompt_seeds)
    if len(seeds) != n_prompts:
        raise InvalidParameters(f"prompt_seeds has {len(seeds)} seeds for {n_prompts} prompts")
    for s in seeds:
        if not _is_int(s) or not (0 <= s < 2**63):
            raise InvalidParameters(f"prompt seed {s!r} is not an integer in [0, 2**63)")
    return seeds


def sample_seed(prompt_seed: int, sample_index: int) -> int:
    """The seed of one sequence; sample 0 of a prompt uses the prompt seed itself."""
    return prompt_seed if sample_index == 0 else derive_seed(prompt_seed, "sample", sample_index)


def cut_at_stop_sequences(text: str, stop_sequences: Sequence[str]) -> tuple[str, bool]:
    """Cut `text` before the earliest stop sequence; returns (text, whether it was cut)."""
    cut = len(text)
    for s in stop_sequences:
        i = text.find(s)
        if i != -1 and i < cut:
            cut = i
    return text[:cut], cut != len(text)
