"""Validate a system's configuration when it is registered, not later on a worker.

`normalize_config(kind, raw)` checks every field of a system config, resolves paths, checks
that the checkpoint folders exist and that their configs and tokenizers load (no weights are
loaded), and returns the normalised config that is stored in `System.config`; otherwise it
raises `InvalidInput` (`core.problems`), whose problems each name a field (``path: model folder '/x' does
not exist``). `register_system` validates and then creates the `System` row, or creates
nothing. The torch/transformers imports are lazy: importing this module is cheap.

A normalised config (hf_causal example)::

    {"path": "/models/zephyr", "adapter_path": "/models/sft", "dtype": "auto", "device": "auto",
     "chat_template": true, "system_prompt": "…",
     "decoding": {"do_sample": true, "top_p": 0.9, "max_new_tokens": 64, "seed": 0, …},
     "samples_per_context": 1, "sample_index": 0, "batch_size": 16, "chunk_size": 32,
     "checkpoint": {"model_type": "mistral", "vocab_size": 32000, …}}

Decoding parameters may be given flat (``max_new_tokens: 64``, as in examples/reference.yaml)
or under ``decoding:``; they are stored under ``decoding`` with every default filled in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from core.problems import InvalidInput, Problem
from core.vocabulary import GENERATED_SYSTEM_KINDS, SystemKind

from .backends import DecodingParameters, InvalidParameters
from .backends.base import DECODING_FIELDS, field_reasons, rule_error
from .checkpoints import CHECKPOINT_CHECKS, Samples

#: System kinds that need generation, and the backend (`load_system` kind) of each.
BACKEND_KINDS: dict[str, str] = {
    SystemKind.HF_CAUSAL: "causal",
    SystemKind.HF_SEQ2SEQ: "seq2seq",
    SystemKind.DEXPERTS: "dexperts",
}
GENERATED_KINDS = GENERATED_SYSTEM_KINDS
ALL_KINDS = (*GENERATED_KINDS, SystemKind.REFERENCE, SystemKind.IMPORTED)

ALIASES = {
    "model": "path",
    "model_path": "path",
    "adapter": "adapter_path",
    "tokenizer": "tokenizer_path",
    "base": "base_path",
    "expert": "expert_path",
    "antiexpert": "antiexpert_path",
    "anti_expert": "antiexpert_path",
    "anti_expert_path": "antiexpert_path",
    "base_top_p": "base_top_p_filter",
}
#: What each folder option holds, as its messages name it ("model folder '/x' does not exist").
FOLDER_ROLES = {
    "path": "model",
    "adapter_path": "adapter",
    "tokenizer_path": "tokenizer",
    "base_path": "base model",
    "expert_path": "expert",
    "antiexpert_path": "anti-expert",
}
NAME_RE = re.compile(r"^[-a-zA-Z0-9_]+$")


#: A config's problems and its error are the located problem and error of every input
#: (``core.problems``); the names are kept for the callers that use them so.
ConfigProblem = Problem
SystemConfigError = InvalidInput


# ---------------------------------------------------------------------------------------------
# the options of a system config, as pydantic models (strict: `True` is not a number)
#
# Each field's `description` completes "must be ..." in its error message (see
# `backends.base.field_reasons`) and documents the field in the JSON Schema.


def _folder(value: Any, info: ValidationInfo) -> str | None:
    """A folder option: resolved against the spec's folder (context `base_dir`) and, with
    context `check_files`, required to exist. Empty is "not given"."""
    role = FOLDER_ROLES[info.field_name or ""]
    if value in (None, ""):
        return None
    if not isinstance(value, str | Path):
        raise rule_error(f"must be a folder path, not {value!r}")
    context = info.context or {}
    p = Path(str(value)).expanduser()
    if not p.is_absolute():
        p = (context.get("base_dir") or Path.cwd()) / p
    p = p.resolve()
    if context.get("check_files", True):
        if not p.exists():
            raise rule_error(f"{role} folder {str(p)!r} does not exist")
        if not p.is_dir():
            raise rule_error(f"{role} path {str(p)!r} is not a folder")
    return str(p)


def _required_folder(value: Any, info: ValidationInfo) -> str:
    if value in (None, ""):
        raise rule_error(f"required: the {FOLDER_ROLES[info.field_name or '']} folder")
    return _folder(value, info) or ""


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("blank")
    return value


Folder = Annotated[Any, AfterValidator(_folder)]
RequiredFolder = Annotated[Any, AfterValidator(_required_folder)]
Dtype = Annotated[
    Literal["auto", "bfloat16", "float16", "float32"],
    Field(description="one of auto, bfloat16, float16, float32"),
]
Device = Annotated[
    str, Field(pattern=r"^(auto|cpu|mps|cuda(:\d+)?)$", description="auto, cpu, cuda or cuda:N")
]
ChatTemplate = Annotated[
    bool | None, Field(description="true, false or null (use the tokenizer's if it has one)")
]
SystemPrompt = Annotated[str | None, Field(description="text or null")]
ListenerLabel = Annotated[str, AfterValidator(_not_blank), Field(description="non-empty text")]
Switch = Annotated[bool, Field(description="true or false")]
# The speaker whose turns are the model's (assistant) turns; null: the last turn is the user's
# and roles alternate backwards (see backends/prompts.py).
ModelSpeaker = Annotated[
    Annotated[str, AfterValidator(_not_blank)] | None,
    Field(description="a speaker label of the dataset, or null"),
]
# Prompts are fitted to this many tokens by dropping their earliest turns.
MaxPromptTokens = Annotated[int | None, Field(ge=1, description="an integer >= 1 or null")]
# How the weights are loaded (backends/loading.py); whether bitsandbytes / flash-attn are
# installed is checked by the worker that loads them, not here (the web machine may lack them).
Quantization = Annotated[
    Literal["4bit", "8bit"] | None, Field(description="4bit, 8bit (bitsandbytes) or null")
]
Attention = Annotated[
    Literal["auto", "sdpa", "eager", "flash_attention_2"],
    Field(description="one of auto, sdpa, eager, flash_attention_2"),
]
DeviceMap = Annotated[
    Literal["auto", "balanced", "balanced_low_0", "sequential"] | dict[str, int | str] | None,
    Field(
        description="auto, balanced, balanced_low_0, sequential, a mapping of module names "
        "to devices, or null"
    ),
]


def _quantization_needs_cuda(value: str | None, info: ValidationInfo) -> str | None:
    if value is not None and info.data.get("device") in ("cpu", "mps"):
        raise rule_error(f"{value} quantization (bitsandbytes) needs a CUDA device, not cpu")
    return value


def _flash_needs_half(value: str, info: ValidationInfo) -> str:
    if value == "flash_attention_2" and (
        info.data.get("dtype") == "float32" or info.data.get("device") in ("cpu", "mps")
    ):
        raise rule_error("flash_attention_2 needs a CUDA device and bfloat16 or float16 weights")
    return value


Auto = Annotated[bool | Literal["auto"], Field(description="true, false or auto")]


def _folder_field(name: str, *, required: bool = False) -> Any:
    description = f"the {FOLDER_ROLES[name]} folder"
    return (
        Field(description=description) if required else Field(default=None, description=description)
    )


class _LoadOptions(BaseModel):
    """The keyword arguments of a backend's `load_*` function (only those given are stored)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    @classmethod
    def given(
        cls, options: Mapping[str, Any], *, base_dir: Path | None, check_files: bool
    ) -> dict[str, Any]:
        """The options validated, folders resolved; raises `InvalidInput`."""
        try:
            model = cls.model_validate(
                dict(options), context={"base_dir": base_dir, "check_files": check_files}
            )
        except ValidationError as error:
            raise InvalidInput(_problems(error, options, cls.model_fields)) from None
        out = model.model_dump(exclude_unset=True)
        return {k: v for k, v in out.items() if not (k in FOLDER_ROLES and v is None)}


class CausalOptions(_LoadOptions):
    path: RequiredFolder = _folder_field("path", required=True)
    adapter_path: Folder = _folder_field("adapter_path")
    tokenizer_path: Folder = _folder_field("tokenizer_path")
    dtype: Dtype = "auto"
    device: Device = "auto"
    chat_template: ChatTemplate = None
    system_prompt: SystemPrompt = None
    listener_label: ListenerLabel = "Listener"
    merge_adapter: Switch = False
    static_cache: Auto = "auto"
    cuda_graph: Auto = "auto"
    model_speaker: ModelSpeaker = None
    max_prompt_tokens: MaxPromptTokens = None
    quantization: Quantization = None
    attn_implementation: Attention = "auto"
    device_map: DeviceMap = None

    _quantization = field_validator("quantization")(_quantization_needs_cuda)
    _attention = field_validator("attn_implementation")(_flash_needs_half)


class Seq2SeqOptions(_LoadOptions):
    path: RequiredFolder = _folder_field("path", required=True)
    tokenizer_path: Folder = _folder_field("tokenizer_path")
    dtype: Dtype = "auto"
    device: Device = "auto"
    chat_template: ChatTemplate = None
    system_prompt: SystemPrompt = None
    listener_label: ListenerLabel = "Listener"
    max_prompt_tokens: MaxPromptTokens = None
    model_speaker: ModelSpeaker = None


class DExpertsOptions(_LoadOptions):
    base_path: RequiredFolder = _folder_field("base_path", required=True)
    expert_path: RequiredFolder = _folder_field("expert_path", required=True)
    antiexpert_path: RequiredFolder = _folder_field("antiexpert_path", required=True)
    dtype: Dtype = "auto"
    device: Device = "auto"
    system_prompt: SystemPrompt = None
    listener_label: ListenerLabel = "Listener"
    static_cache: Auto = "auto"
    cuda_graph: Auto = "auto"
    max_prompt_tokens: MaxPromptTokens = None
    quantization: Quantization = None
    attn_implementation: Attention = "auto"
    alpha: float = Field(default=2.0, description="a number")
    # 0.9 as in the reference implementation; null = the formula of the DExperts paper.
    base_top_p_filter: float | None = Field(
        default=0.9, gt=0, le=1, description="in (0, 1] or null (no filter)"
    )

    _quantization = field_validator("quantization")(_quantization_needs_cuda)
    _attention = field_validator("attn_implementation")(_flash_needs_half)


LOAD_MODELS: dict[str, type[_LoadOptions]] = {
    SystemKind.HF_CAUSAL: CausalOptions,
    SystemKind.HF_SEQ2SEQ: Seq2SeqOptions,
    SystemKind.DEXPERTS: DExpertsOptions,
}
LOAD_OPTIONS: dict[str, tuple[str, ...]] = {
    kind: tuple(m.model_fields) for kind, m in LOAD_MODELS.items()
}


class JobOptions(BaseModel):
    """Job options kept in a system config: the defaults of the jobs created for it."""

    model_config = ConfigDict(strict=True, extra="forbid")

    samples_per_context: int = Field(default=1, ge=1, description="an integer >= 1")
    sample_index: int = Field(
        default=0, ge=0, description="an integer >= 0"
    )  # the sample a study uses
    batch_size: int = Field(
        default=16, ge=1, description="an integer >= 1"
    )  # sequences per forward pass
    chunk_size: int = Field(default=32, ge=1, description="an integer >= 1")  # contexts per task

    @field_validator("sample_index")
    @classmethod
    def _below_samples(cls, value: int, info: ValidationInfo) -> int:
        samples = info.data.get("samples_per_context")
        if samples is not None and value >= samples:
            raise rule_error(
                f"{value} is not below samples_per_context ({samples}): sample indices start at 0"
            )
        return value

    @classmethod
    def checked(cls, options: Mapping[str, Any]) -> JobOptions:
        """Validated options; raises `InvalidInput`."""
        try:
            return cls.model_validate(dict(options))
        except ValidationError as error:
            raise InvalidInput(_problems(error, options, cls.model_fields)) from None


JOB_OPTIONS = {name: f.default for name, f in JobOptions.model_fields.items()}


def _problems(
    error: ValidationError, given: Mapping[str, Any], fields: Mapping[str, Any]
) -> list[Problem]:
    return [Problem(name, reason) for name, reason in field_reasons(error, given, fields)]


# ---------------------------------------------------------------------------------------------
# one flat mapping -> (load options, decoding, job options)

_DECODING_NAMES = set(DECODING_FIELDS) - {"num_return_sequences"}


def split_config(kind: str, raw: Mapping[str, Any]) -> tuple[dict, dict, dict, list[Problem]]:
    """(load options, decoding, job options, unknown-key problems), aliases resolved."""
    load: dict[str, Any] = {}
    decoding: dict[str, Any] = {}
    job: dict[str, Any] = {}
    problems: list[Problem] = []
    accepted = set(LOAD_OPTIONS[kind])
    for key, value in raw.items():
        name = ALIASES.get(key, key)
        if kind == SystemKind.DEXPERTS and key == "path":
            name = "base_path"
        if name in accepted:
            target = load
        elif name in JOB_OPTIONS:
            target = job
        elif name == "num_return_sequences":
            problems.append(
                Problem(key, "set samples_per_context instead (samples generated per context)")
            )
            continue
        elif name in _DECODING_NAMES:
            target = decoding
        elif name == "decoding":
            problems.extend(_split_decoding(value, decoding))
            continue
        elif name == "checkpoint":
            continue  # written by a previous normalisation; recomputed
        else:
            known = sorted(accepted | set(JOB_OPTIONS) | _DECODING_NAMES | {"decoding"})
            problems.append(
                Problem(key, f"unknown option for a {kind} system; accepted: {', '.join(known)}")
            )
            continue
        if name in target and target[name] != value:
            problems.append(
                Problem(key, f"given twice, with different values ({name!r} is the same option)")
            )
        target[name] = value
    return load, decoding, job, problems


def _split_decoding(value: Any, decoding: dict[str, Any]) -> list[Problem]:
    if not isinstance(value, Mapping):
        return [Problem("decoding", f"must be a mapping, not {type(value).__name__}")]
    problems = []
    for key, item in value.items():
        if key == "num_return_sequences":
            problems.append(
                Problem("decoding.num_return_sequences", "set samples_per_context instead")
            )
        elif key not in _DECODING_NAMES:
            problems.append(
                Problem(
                    f"decoding.{key}",
                    f"unknown decoding parameter; known: {', '.join(sorted(_DECODING_NAMES))}",
                )
            )
        else:
            decoding[key] = item
    return problems


def _check_decoding(decoding: dict, samples: int) -> dict[str, Any]:
    """The decoding parameters with every default filled in; raises `InvalidInput`.

    Their `num_return_sequences` is the config's `samples_per_context`, so its problems are
    reported under that name."""
    try:
        params = DecodingParameters.from_dict({**decoding, "num_return_sequences": samples})
    except InvalidParameters as error:
        raise InvalidInput(
            [
                Problem(
                    "samples_per_context",
                    message.replace("num_return_sequences", "samples_per_context"),
                )
                if name == "num_return_sequences"
                else Problem(f"decoding.{name}", message)
                for name, message in error.problems
            ]
        ) from None
    out = params.as_dict()
    out.pop("num_return_sequences")
    return out


# ---------------------------------------------------------------------------------------------
# the entry points


def normalize_config(
    kind: str,
    raw: Mapping[str, Any] | None,
    *,
    base_dir: str | Path | None = None,
    check_files: bool = True,
    sample_contexts: Samples = (),
) -> dict[str, Any]:
    """The normalised, validated config of a system of `kind`; raises `InvalidInput`.

    Relative paths are resolved against `base_dir` (the spec's folder; default: the current
    directory). `check_files=False` skips the checkpoint checks (for tests of the shape only).
    `sample_contexts` ((name, turns) pairs, e.g. a dataset's) are rendered with the system's
    prompt style along with built-in dialogue shapes (checkpoints.py); a chat-template rule
    that no form satisfies is a problem of `chat_template`.
    Every problem is reported at once: unknown keys, then load options, job options and
    decoding parameters; the checkpoints are read only when all of those are fine.
    """
    if kind not in ALL_KINDS:
        raise InvalidInput(
            [Problem("kind", f"must be one of {', '.join(ALL_KINDS)}, not {kind!r}")]
        )
    raw = dict(raw or {})
    if kind not in GENERATED_KINDS:
        if raw:
            raise InvalidInput(
                [
                    Problem(
                        sorted(raw)[0],
                        f"a {kind} system takes no configuration (only {', '.join(GENERATED_KINDS)} do)",
                    )
                ]
            )
        return {}
    base = Path(base_dir) if base_dir is not None else None
    load, decoding, job = _checked_options(kind, raw, base, check_files)
    problems: list[Problem] = []
    checkpoint = CHECKPOINT_CHECKS[kind](problems, load, sample_contexts) if check_files else {}
    if problems:
        raise InvalidInput(problems)
    return {
        **load,
        "decoding": decoding,
        **job.model_dump(),
        **({"checkpoint": checkpoint} if checkpoint else {}),
    }


def _checked_options(
    kind: str, raw: Mapping[str, Any], base_dir: Path | None, check_files: bool
) -> tuple[dict[str, Any], dict[str, Any], JobOptions]:
    """(load options, decoding parameters, job options), each validated; raises
    `InvalidInput` with the problems of all three (and of unknown keys) at once."""
    load, decoding, job, problems = split_config(kind, raw)
    load_out: dict[str, Any] = {}
    job_out = JobOptions()
    samples = 1  # decoding is checked with one sample when samples_per_context is unusable
    try:
        load_out = LOAD_MODELS[kind].given(load, base_dir=base_dir, check_files=check_files)
    except InvalidInput as error:
        problems.extend(error.problems)
    try:
        job_out = JobOptions.checked(job)
        samples = job_out.samples_per_context
    except InvalidInput as error:
        problems.extend(error.problems)
        if not any(p.field == "samples_per_context" for p in error.problems):
            samples = job.get("samples_per_context", 1)
    decoding_out: dict[str, Any] = {}
    try:
        decoding_out = _check_decoding(decoding, samples)
    except InvalidInput as error:
        problems.extend(error.problems)
    if problems:
        raise InvalidInput(problems)
    return load_out, decoding_out, job_out


def backend_spec(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The spec dict that `generation.backends.load_system` loads for a normalised config."""
    if kind not in BACKEND_KINDS:
        raise ValueError(f"a {kind} system is not generated")
    spec = load_options(kind, config)
    spec["kind"] = BACKEND_KINDS[kind]
    return spec


def load_options(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The model options of a stored config (what `backend_spec` loads), without the decoding
    parameters, job options and checkpoint facts."""
    return {k: v for k, v in config.items() if k in LOAD_OPTIONS.get(kind, ())}
