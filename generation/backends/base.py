"""Shared types of the decoding backends: parameters, results, errors, seeds, versions.

Pure Python (pydantic) plus torch/transformers version look-ups; no Django imports.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

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
    """Decoding parameters that cannot be used; the message lists every problem.

    `problems`: (field, message) pairs, so callers can place each problem under its field.
    """

    def __init__(self, problems: str | list[tuple[str, str]]) -> None:
        if isinstance(problems, str):
            self.problems: list[tuple[str, str]] = []
            super().__init__(problems)
        else:
            self.problems = list(problems)
            super().__init__(
                "invalid decoding parameters: " + "; ".join(m for _, m in self.problems)
            )

    @classmethod
    def unknown(cls, names: list[str]) -> InvalidParameters:
        known = ", ".join(sorted(DECODING_FIELDS))
        error = cls(f"unknown decoding parameter(s) {', '.join(names)}; known: {known}")
        error.problems = [(name, f"unknown decoding parameter; known: {known}") for name in names]
        return error


class OutOfMemory(BackendError, RuntimeError):
    """Even a batch of one sequence did not fit in accelerator memory."""


#: The `type` of the pydantic errors whose message is already the whole reason (cross-field rules).
RULE_ERROR = "evalsite_rule"


def field_reasons(
    error: ValidationError,
    given: Mapping[str, Any],
    fields: Mapping[str, FieldInfo],
    *,
    named: bool = False,
) -> list[tuple[str, str]]:
    """(field, reason) per invalid field, in field order, one per field.

    A cross-field rule's message is the reason; any other error says what the field must be
    (its `description`) and what it was given: ``must be an integer >= 1, not 0`` (``named``:
    ``top_k must be ...``). Reasons are our words, not pydantic's, so messages stay the same
    across pydantic releases.
    """
    out: dict[str, str] = {}
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        if name in out:
            continue
        if problem["type"] == RULE_ERROR:
            out[name] = problem["msg"]
        elif problem["type"] == "missing":
            out[name] = f"required: {fields[name].description}"
        else:
            value = given.get(name, problem["input"])
            subject = f"{name} must" if named else "must"
            out[name] = f"{subject} be {fields[name].description}, not {value!r}"
    order = list(fields)
    return sorted(
        out.items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)
    )


def rule_error(message: str) -> PydanticCustomError:
    """A cross-field rule's failure, reported as `message` (see `field_reasons`)."""
    return PydanticCustomError(RULE_ERROR, "{message}", {"message": message})


def _stop_sequences_as_tuple(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


@pydantic_dataclass(frozen=True, config=ConfigDict(strict=True))
class _DecodingFields:
    """The fields and rules of `DecodingParameters` (pydantic validates them on construction).

    Strict: `True` is not an integer and "yes" is not a boolean. Each `description` completes
    "must be ..." in the error messages and documents the field in the JSON Schema.
    """

    do_sample: bool = Field(default=True, description="true or false")
    temperature: float = Field(
        default=1.0, gt=0, allow_inf_nan=False, description="a finite number > 0"
    )
    top_p: float = Field(default=1.0, gt=0, le=1, allow_inf_nan=False, description="in (0, 1]")
    top_k: int = Field(default=0, ge=0, description="an integer >= 0 (0 = off)")
    max_new_tokens: int = Field(default=20, ge=1, description="an integer >= 1")
    min_new_tokens: int = Field(default=0, ge=0, description="an integer >= 0")
    num_return_sequences: int = Field(default=1, ge=1, description="an integer >= 1")
    repetition_penalty: float | None = Field(
        default=None, gt=0, allow_inf_nan=False, description="null or a finite number > 0"
    )
    seed: int = Field(default=0, ge=0, lt=2**63, description="an integer in [0, 2**63)")
    stop_sequences: Annotated[
        tuple[Annotated[str, Field(min_length=1)], ...],
        BeforeValidator(_stop_sequences_as_tuple),
        Field(strict=False),  # a list (JSON, YAML) is accepted and stored as a tuple
    ] = Field(default=(), description="a list of non-empty strings")
    # Seeds of a job's contexts: false (default) derives them from the system too, so that two
    # systems decoded with one seed draw independent random numbers; true gives every system
    # the same numbers per context (common random numbers, an explicit design choice).
    common_random_numbers: bool = Field(default=False, description="true or false")

    # Validators see the fields before them that are valid (`info.data`), so a rule between
    # two fields is checked only when both are usable, as each field reports its own problem.
    @field_validator("min_new_tokens")
    @classmethod
    def _min_not_above_max(cls, value: int, info: ValidationInfo) -> int:
        maximum = info.data.get("max_new_tokens")
        if maximum is not None and value > maximum:
            raise rule_error(f"min_new_tokens ({value}) must not exceed max_new_tokens ({maximum})")
        return value

    @field_validator("num_return_sequences")
    @classmethod
    def _greedy_returns_one(cls, value: int, info: ValidationInfo) -> int:
        if info.data.get("do_sample") is False and value > 1:
            raise rule_error(
                "num_return_sequences > 1 with greedy decoding (do_sample=false) would return identical copies"
            )
        return value


DECODING_FIELDS: Mapping[str, FieldInfo] = _DecodingFields.__pydantic_fields__  # type: ignore[attr-defined]  # set by pydantic, unknown to mypy


class DecodingParameters(_DecodingFields):
    """How to decode. Frozen, validated on construction, serialisable with `as_dict`.

    Order of logits processing (the same as Hugging Face `generate`): repetition penalty,
    end-of-sequence suppression while fewer than `min_new_tokens` were generated, then (when
    sampling) temperature, top-k and top-p. `top_k=0` and `top_p=1.0` switch those filters off.
    Greedy decoding ignores temperature, top-k and top-p.

    `common_random_numbers` is read by the jobs (generation/worker.py `context_seed`), not by
    the decoding loop: false gives each system its own random stream per context.

    `stop_sequences`: a sequence stops being decoded once its text contains one of them, and
    the text is cut before the first occurrence (finish_reason "stop_sequence").

    Not `transformers.GenerationConfig`: that would import transformers (and torch) wherever
    parameters are checked, and it accepts what our step loop does not implement (beams).
    """

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise InvalidParameters(
                field_reasons(error, values, DECODING_FIELDS, named=True)
            ) from None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict; `DecodingParameters.from_dict(p.as_dict()) == p`."""
        d = dataclasses.asdict(self)
        d["stop_sequences"] = list(self.stop_sequences)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DecodingParameters:
        unknown = sorted(set(data) - set(DECODING_FIELDS))
        if unknown:
            raise InvalidParameters.unknown(unknown)
        return cls(**dict(data))

    def replace(self, **changes: Any) -> DecodingParameters:
        return dataclasses.replace(self, **changes)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON Schema of the parameters (for editors and the API)."""
        return TypeAdapter(_DecodingFields).json_schema()


@dataclass(frozen=True)
class GeneratedText:
    """One generated sequence: prompt `prompt_index` (position in the call), sample `sample_index`.

    `text` is the decoded continuation exactly as produced (special tokens removed, whitespace
    kept, cut before a stop sequence). `rendered_prompt` is the exact text given to the tokenizer.
    `prompt_dropped_turns` (earliest turns left out to fit the budget), `prompt_truncated_tokens`
    (tokens cut from the prompt) and `prompt_form` (chat form, see prompts.py) say how it was made.
    `decode_mode` is the mode its batch really ran ("dynamic", "static", "graph",
    "emulated_graph", "hf_generate"); `graph_fallback` says why the system stopped using its
    CUDA graph (the self-check, selfcheck.py), empty when it did not.
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
    prompt_dropped_turns: int = 0
    prompt_form: str = ""
    decode_mode: str = ""
    graph_fallback: str = ""

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
        if not isinstance(s, int) or isinstance(s, bool) or not (0 <= s < 2**63):
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
