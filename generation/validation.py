"""Validate a system's configuration when it is registered, not later on a worker.

`normalize_config(kind, raw)` checks every field of a system config, resolves paths, checks
that the checkpoint folders exist and that their configs and tokenizers load (no weights are
loaded), and returns the normalised config that is stored in `System.config`; otherwise it
raises `SystemConfigError`, whose problems each name a field (``path: model folder '/x' does
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

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .backends import CheckpointError, DecodingParameters, InvalidParameters

#: System kinds that need generation, and the backend (`load_system` kind) of each.
BACKEND_KINDS = {"hf_causal": "causal", "hf_seq2seq": "seq2seq", "dexperts": "dexperts"}
GENERATED_KINDS = tuple(BACKEND_KINDS)
ALL_KINDS = (*GENERATED_KINDS, "reference", "imported")

LOAD_OPTIONS: dict[str, tuple[str, ...]] = {
    "hf_causal": (
        "path", "adapter_path", "tokenizer_path", "dtype", "device", "chat_template", "system_prompt",
        "listener_label", "merge_adapter", "static_cache", "cuda_graph",
    ),
    "hf_seq2seq": (
        "path", "tokenizer_path", "dtype", "device", "chat_template", "system_prompt", "listener_label",
        "max_prompt_tokens",
    ),
    "dexperts": (
        "base_path", "expert_path", "antiexpert_path", "alpha", "base_top_p_filter", "dtype", "device",
        "system_prompt", "listener_label", "static_cache", "cuda_graph",
    ),
}
PATH_OPTIONS = ("path", "adapter_path", "tokenizer_path", "base_path", "expert_path", "antiexpert_path")
#: Job options kept in the system config: defaults of the jobs created for it.
JOB_OPTIONS = {"samples_per_context": 1, "sample_index": 0, "batch_size": 16, "chunk_size": 32}
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
DTYPES = ("auto", "bfloat16", "float16", "float32")
DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
NAME_RE = re.compile(r"^[-a-zA-Z0-9_]+$")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")


@dataclass(frozen=True)
class ConfigProblem:
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


class SystemConfigError(ValueError):
    """Every problem of a system config, each naming its field."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def prefixed(self, prefix: str) -> str:
        """The problems with their fields under `prefix`, e.g. 'systems[2].config.'."""
        return "\n".join(f"{prefix}{p}" for p in self.problems)


def _decoding_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(DecodingParameters)]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[ConfigProblem] = []

    def add(self, field: str, reason: str) -> None:
        self.problems.append(ConfigProblem(field, reason))

    def has(self, field: str) -> bool:
        return any(p.field == field or p.field.startswith(field + ".") for p in self.problems)


def split_config(kind: str, raw: Mapping[str, Any]) -> tuple[dict, dict, dict, list[ConfigProblem]]:
    """(load options, decoding, job options, unknown-key problems), aliases resolved."""
    decoding_names = set(_decoding_fields())
    load: dict[str, Any] = {}
    decoding: dict[str, Any] = {}
    job: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    accepted = set(LOAD_OPTIONS[kind])
    for key, value in raw.items():
        name = ALIASES.get(key, key)
        if kind == "dexperts" and key == "path":
            name = "base_path"
        if name in accepted:
            target = load
        elif name in JOB_OPTIONS:
            target = job
        elif name == "num_return_sequences":
            problems.append(ConfigProblem(key, "set samples_per_context instead (samples generated per context)"))
            continue
        elif name in decoding_names:
            target = decoding
        elif name == "decoding":
            if not isinstance(value, Mapping):
                problems.append(ConfigProblem("decoding", f"must be a mapping, not {type(value).__name__}"))
                continue
            for dkey, dvalue in value.items():
                if dkey == "num_return_sequences":
                    problems.append(ConfigProblem("decoding.num_return_sequences",
                                                  "set samples_per_context instead"))
                elif dkey not in decoding_names:
                    problems.append(ConfigProblem(
                        f"decoding.{dkey}",
                        f"unknown decoding parameter; known: {', '.join(sorted(decoding_names - {'num_return_sequences'}))}",
                    ))
                else:
                    decoding[dkey] = dvalue
            continue
        elif name == "checkpoint":
            continue  # written by a previous normalisation; recomputed
        else:
            known = sorted(accepted | set(JOB_OPTIONS) | (decoding_names - {"num_return_sequences"}) | {"decoding"})
            problems.append(ConfigProblem(key, f"unknown option for a {kind} system; accepted: {', '.join(known)}"))
            continue
        if name in target and target[name] != value:
            problems.append(ConfigProblem(key, f"given twice, with different values ({name!r} is the same option)"))
        target[name] = value
    return load, decoding, job, problems


def _resolve_path(value: Any, base_dir: Path | None) -> Path:
    p = Path(str(value)).expanduser()
    if not p.is_absolute():
        p = (base_dir or Path.cwd()) / p
    return p.resolve()


def _check_folder(c: _Checker, field: str, p: Path, what: str) -> bool:
    if not p.exists():
        c.add(field, f"{what} folder {str(p)!r} does not exist")
        return False
    if not p.is_dir():
        c.add(field, f"{what} path {str(p)!r} is not a folder")
        return False
    return True


def _check_options(c: _Checker, kind: str, load: dict) -> None:
    if "dtype" in load and load["dtype"] not in DTYPES:
        c.add("dtype", f"must be one of {', '.join(DTYPES)}, not {load['dtype']!r}")
    if "device" in load and not (isinstance(load["device"], str) and DEVICE_RE.match(load["device"])):
        c.add("device", f"must be auto, cpu, cuda or cuda:N, not {load['device']!r}")
    if "chat_template" in load and load["chat_template"] not in (True, False, None):
        c.add("chat_template", f"must be true, false or null (use the tokenizer's if it has one), "
                               f"not {load['chat_template']!r}")
    for key in ("system_prompt",):
        if key in load and load[key] is not None and not isinstance(load[key], str):
            c.add(key, f"must be text or null, not {load[key]!r}")
    if "listener_label" in load and not (isinstance(load["listener_label"], str) and load["listener_label"].strip()):
        c.add("listener_label", f"must be non-empty text, not {load['listener_label']!r}")
    for key in ("merge_adapter",):
        if key in load and not isinstance(load[key], bool):
            c.add(key, f"must be true or false, not {load[key]!r}")
    for key in ("static_cache", "cuda_graph"):
        if key in load and load[key] not in (True, False, "auto"):
            c.add(key, f"must be true, false or auto, not {load[key]!r}")
    if "max_prompt_tokens" in load and load["max_prompt_tokens"] is not None and not (
        _is_int(load["max_prompt_tokens"]) and load["max_prompt_tokens"] >= 1
    ):
        c.add("max_prompt_tokens", f"must be an integer >= 1 or null, not {load['max_prompt_tokens']!r}")
    if kind == "dexperts":
        if "alpha" in load and not _is_number(load["alpha"]):
            c.add("alpha", f"must be a number, not {load['alpha']!r}")
        f = load.get("base_top_p_filter", 0.9)
        if f is not None and not (_is_number(f) and 0.0 < f <= 1.0):
            c.add("base_top_p_filter", f"must be in (0, 1] or null (no filter), not {f!r}")


def _check_decoding(c: _Checker, decoding: dict, samples: int) -> dict:
    try:
        params = DecodingParameters.from_dict({**decoding, "num_return_sequences": samples})
    except InvalidParameters as exc:
        names = set(_decoding_fields())
        text = str(exc).removeprefix("invalid decoding parameters: ")
        for problem in text.split("; "):
            first = problem.split(" ", 1)[0]
            if first == "num_return_sequences":
                c.add("samples_per_context", problem.replace("num_return_sequences", "samples_per_context"))
            else:
                c.add(f"decoding.{first}" if first in names else "decoding", problem)
        return {}
    except TypeError as exc:  # pragma: no cover - from_dict checks names first
        c.add("decoding", str(exc))
        return {}
    out = params.as_dict()
    out.pop("num_return_sequences")
    return out


def _check_job_options(c: _Checker, job: dict) -> dict:
    out = dict(JOB_OPTIONS)
    for key, value in job.items():
        minimum = 0 if key == "sample_index" else 1
        if not _is_int(value) or value < minimum:
            c.add(key, f"must be an integer >= {minimum}, not {value!r}")
        else:
            out[key] = value
    if not c.has("sample_index") and not c.has("samples_per_context"):
        if out["sample_index"] >= out["samples_per_context"]:
            c.add("sample_index", f"{out['sample_index']} is not below samples_per_context "
                                  f"({out['samples_per_context']}): sample indices start at 0")
    return out


def _checkpoint_problem(c: _Checker, field: str, exc: Exception) -> None:
    c.add(field, str(exc))


def _check_causal(c: _Checker, load: dict) -> dict:
    from .backends import validate_causal_checkpoint  # imports torch: only when checking files

    path = load["path"]
    adapter = load.get("adapter_path")
    tokenizer = load.get("tokenizer_path")
    try:
        info = validate_causal_checkpoint(path, tokenizer_path=tokenizer)
    except CheckpointError as exc:
        field = "tokenizer_path" if tokenizer and str(tokenizer) in str(exc) else "path"
        _checkpoint_problem(c, field, exc)
        return {}
    if adapter is not None:
        try:
            info = validate_causal_checkpoint(path, adapter, tokenizer_path=tokenizer)
        except CheckpointError as exc:
            _checkpoint_problem(c, "adapter_path", exc)
            return {}
    if load.get("chat_template") is True and not info.has_chat_template:
        c.add("chat_template", f"is true but the tokenizer in {info.tokenizer_path!r} has no chat template")
    return _info_dict(info)


def _check_seq2seq(c: _Checker, load: dict) -> dict:
    from .backends import validate_seq2seq_checkpoint  # imports torch: only when checking files

    tokenizer = load.get("tokenizer_path")
    try:
        info = validate_seq2seq_checkpoint(load["path"], tokenizer_path=tokenizer)
    except CheckpointError as exc:
        field = "tokenizer_path" if tokenizer and str(tokenizer) in str(exc) else "path"
        _checkpoint_problem(c, field, exc)
        return {}
    if load.get("chat_template") is True and not info.has_chat_template:
        c.add("chat_template", f"is true but the tokenizer in {info.tokenizer_path!r} has no chat template")
    return _info_dict(info)


def _check_dexperts(c: _Checker, load: dict) -> dict:
    """Base: a full causal checkpoint. Expert and anti-expert: causal checkpoints with the base's
    vocabulary size; when they carry their own tokenizer it must map tokens to the same ids."""
    from .backends import validate_causal_checkpoint  # imports torch: only when checking files

    base = load["base_path"]
    try:
        base_info = validate_causal_checkpoint(base)
    except CheckpointError as exc:
        _checkpoint_problem(c, "base_path", exc)
        return {}
    base_vocab = None
    out = {"base": _info_dict(base_info)}
    for field, role in (("expert_path", "expert"), ("antiexpert_path", "anti-expert")):
        path = Path(load[field])
        vocab = _config_vocab_size(path)
        if vocab is not None and vocab != base_info.vocab_size:
            c.add(field, f"the {role} in {str(path)!r} has a vocabulary of {vocab} but the base "
                         f"model's has {base_info.vocab_size}: DExperts needs one vocabulary")
            continue
        try:
            info = validate_causal_checkpoint(path, tokenizer_path=base)
        except CheckpointError as exc:
            _checkpoint_problem(c, field, exc)
            continue
        if any((path / name).exists() for name in TOKENIZER_FILES):
            if base_vocab is None:
                base_vocab = _tokenizer_vocab(Path(base))
            try:
                own = _tokenizer_vocab(path)
            except Exception as exc:
                c.add(field, f"cannot load the {role} tokenizer in {str(path)!r}: {exc}")
                continue
            if own != base_vocab:
                c.add(field, f"the {role} tokenizer in {str(path)!r} maps tokens to other ids than the base "
                             "tokenizer: DExperts needs one tokenizer")
                continue
        out[role.replace("-", "")] = _info_dict(info)
    return out


def _config_vocab_size(path: Path) -> int | None:
    """The vocabulary size in a model folder's config.json, or None when it cannot be read
    (the full checkpoint check then reports why)."""
    try:
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(path))
        return int(config.get_text_config(decoder=True).vocab_size)
    except Exception:
        return None


def _tokenizer_vocab(path: Path) -> dict:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path)).get_vocab()


def _info_dict(info) -> dict:
    return {
        "model_type": info.model_type,
        "vocab_size": info.vocab_size,
        "tokenizer_size": info.tokenizer_size,
        "tokenizer_path": info.tokenizer_path,
        "has_chat_template": info.has_chat_template,
        "max_positions": info.max_positions,
        **({"adapter": info.adapter} if info.adapter else {}),
    }


REQUIRED_PATHS = {
    "hf_causal": ("path",),
    "hf_seq2seq": ("path",),
    "dexperts": ("base_path", "expert_path", "antiexpert_path"),
}
PATH_WHAT = {
    "path": "model",
    "adapter_path": "adapter",
    "tokenizer_path": "tokenizer",
    "base_path": "base model",
    "expert_path": "expert",
    "antiexpert_path": "anti-expert",
}


def normalize_config(
    kind: str, raw: Mapping[str, Any] | None, *, base_dir: str | Path | None = None, check_files: bool = True
) -> dict[str, Any]:
    """The normalised, validated config of a system of `kind`; raises `SystemConfigError`.

    Relative paths are resolved against `base_dir` (the spec's folder; default: the current
    directory). `check_files=False` skips the checkpoint checks (for tests of the shape only).
    """
    if kind not in ALL_KINDS:
        raise SystemConfigError([ConfigProblem("kind", f"must be one of {', '.join(ALL_KINDS)}, not {kind!r}")])
    raw = dict(raw or {})
    if kind not in GENERATED_KINDS:
        if raw:
            raise SystemConfigError([ConfigProblem(
                sorted(raw)[0], f"a {kind} system takes no configuration (only {', '.join(GENERATED_KINDS)} do)"
            )])
        return {}
    load, decoding, job, problems = split_config(kind, raw)
    c = _Checker()
    c.problems.extend(problems)
    base = Path(base_dir) if base_dir is not None else None
    for field in REQUIRED_PATHS[kind]:
        if load.get(field) in (None, ""):
            c.add(field, f"required: the {PATH_WHAT[field]} folder")
    for field in PATH_OPTIONS:
        if field not in load:
            continue
        if load[field] in (None, ""):
            if field in REQUIRED_PATHS[kind]:
                continue  # reported above
            load.pop(field)
            continue
        if not isinstance(load[field], str | Path):
            c.add(field, f"must be a folder path, not {load[field]!r}")
            continue
        p = _resolve_path(load[field], base)
        load[field] = str(p)
        if check_files:
            _check_folder(c, field, p, PATH_WHAT[field])
    _check_options(c, kind, load)
    job_options = _check_job_options(c, job)
    samples = job_options["samples_per_context"] if not c.has("samples_per_context") else 1
    decoding_out = _check_decoding(c, decoding, samples)
    checkpoint: dict[str, Any] = {}
    if check_files and not c.problems:
        checker = {"hf_causal": _check_causal, "hf_seq2seq": _check_seq2seq, "dexperts": _check_dexperts}[kind]
        checkpoint = checker(c, load)
    if c.problems:
        raise SystemConfigError(c.problems)
    return {**load, "decoding": decoding_out, **job_options, **({"checkpoint": checkpoint} if checkpoint else {})}


def backend_spec(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The spec dict that `generation.backends.load_system` loads for a normalised config."""
    if kind not in BACKEND_KINDS:
        raise ValueError(f"a {kind} system is not generated")
    spec = {k: v for k, v in config.items() if k in LOAD_OPTIONS[kind]}
    spec["kind"] = BACKEND_KINDS[kind]
    return spec


def load_options(kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k in LOAD_OPTIONS.get(kind, ())}


def register_system(
    name: str,
    kind: str,
    config: Mapping[str, Any] | None = None,
    *,
    base_dir: str | Path | None = None,
    replace: bool = False,
):
    """Validate, then create (or, with `replace`, update) the System; creates nothing on error.

    Replacing is refused once the system has candidates: they were made with the old config.
    """
    from django.db import transaction

    from .models import System

    problems = []
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 120:
        problems.append(ConfigProblem("name", f"must be a slug (letters, digits, '-', '_'), not {name!r}"))
    existing = System.objects.filter(name=name).first() if not problems else None
    if existing is not None and not replace:
        problems.append(ConfigProblem(
            "name", f"a system named {name!r} is already registered (kind {existing.kind}); "
                    "choose another name or pass --replace"))
    if existing is not None and replace and existing.candidates.exists():
        problems.append(ConfigProblem(
            "name", f"{name!r} already has candidates made with its current config; register the new "
                    "config under another name"))
    if problems:
        raise SystemConfigError(problems)
    normalized = normalize_config(kind, config, base_dir=base_dir)
    with transaction.atomic():
        if existing is not None:
            existing.kind = kind
            existing.config = normalized
            existing.save(update_fields=["kind", "config"])
            return existing
        return System.objects.create(name=name, kind=kind, config=normalized)
