"""A system's checkpoints checked at registration: configs and tokenizers loaded (no weights),
DExperts vocabularies compared, and sample dialogue contexts rendered with the system's prompt
style (chat template, system prompt, model speaker), so that a template's rule that no
context form satisfies is reported when the system is registered, not when a job runs.

Called by `validation.normalize_config`; torch and transformers are imported only here, in
the functions, when files are checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from core.problems import Problem
from core.vocabulary import SystemKind

from .backends import CheckpointError

#: Sample contexts to render at registration: (name, turns as (speaker, text) pairs).
Samples = Sequence[tuple[str, Sequence[tuple[str, str]]]]

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "spiece.model",
)


def _check_prompts(problems: list[Problem], load: dict, info: Any, samples: Samples) -> None:
    """Render the built-in dialogue shapes and `samples` as the system would; one problem per
    distinct reason, under `chat_template` (a template's rule) or `model_speaker` (a context
    that ends with the model's own turn)."""
    if problems:
        return
    from .backends.hf_causal import load_tokenizer  # imports torch: only when checking files
    from .backends.prompts import PromptStyle, rendering_problems, sample_contexts

    chat = load.get("chat_template")
    style = PromptStyle(
        chat_template=info.has_chat_template if chat is None else bool(chat),
        system_prompt=load.get("system_prompt"),
        listener_label=load.get("listener_label", "Listener"),
        model_speaker=load.get("model_speaker"),
    )
    shapes = [(f"shape {i + 1} ({_roles(t)})", t) for i, t in enumerate(sample_contexts(style))]
    try:
        tokenizer = load_tokenizer(info.tokenizer_path)
    except CheckpointError as exc:
        problems.append(Problem("path", str(exc)))
        return
    for rule, message in rendering_problems(tokenizer, style, [*shapes, *samples]):
        problems.append(Problem("chat_template" if rule else "model_speaker", message))


def _roles(turns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(speaker for speaker, _ in turns)


def _check_causal(problems: list[Problem], load: dict, samples: Samples) -> dict:
    from .backends import validate_causal_checkpoint  # imports torch: only when checking files

    path = load["path"]
    adapter = load.get("adapter_path")
    tokenizer = load.get("tokenizer_path")
    try:
        info = validate_causal_checkpoint(path, tokenizer_path=tokenizer)
    except CheckpointError as exc:
        field = "tokenizer_path" if tokenizer and str(tokenizer) in str(exc) else "path"
        problems.append(Problem(field, str(exc)))
        return {}
    if adapter is not None:
        try:
            info = validate_causal_checkpoint(path, adapter, tokenizer_path=tokenizer)
        except CheckpointError as exc:
            problems.append(Problem("adapter_path", str(exc)))
            return {}
    _check_chat_template(problems, load, info)
    _check_prompts(problems, load, info, samples)
    return _info_dict(info)


def _check_seq2seq(problems: list[Problem], load: dict, samples: Samples) -> dict:
    from .backends import validate_seq2seq_checkpoint  # imports torch: only when checking files

    tokenizer = load.get("tokenizer_path")
    try:
        info = validate_seq2seq_checkpoint(load["path"], tokenizer_path=tokenizer)
    except CheckpointError as exc:
        field = "tokenizer_path" if tokenizer and str(tokenizer) in str(exc) else "path"
        problems.append(Problem(field, str(exc)))
        return {}
    _check_chat_template(problems, load, info)
    _check_prompts(problems, load, info, samples)
    return _info_dict(info)


def _check_chat_template(problems: list[Problem], load: dict, info: Any) -> None:
    if load.get("chat_template") is True and not info.has_chat_template:
        problems.append(
            Problem(
                "chat_template",
                f"is true but the tokenizer in {info.tokenizer_path!r} has no chat template",
            )
        )


def _check_dexperts(problems: list[Problem], load: dict, samples: Samples) -> dict:
    """Base: a full causal checkpoint. Expert and anti-expert: causal checkpoints with the base's
    vocabulary size; when they carry their own tokenizer it must map tokens to the same ids."""
    from .backends import validate_causal_checkpoint  # imports torch: only when checking files

    base = load["base_path"]
    try:
        base_info = validate_causal_checkpoint(base)
    except CheckpointError as exc:
        problems.append(Problem("base_path", str(exc)))
        return {}
    base_vocab = None
    out = {"base": _info_dict(base_info)}
    for field, role in (("expert_path", "expert"), ("antiexpert_path", "anti-expert")):
        path = Path(load[field])
        vocab = _config_vocab_size(path)
        if vocab is not None and vocab != base_info.vocab_size:
            problems.append(
                Problem(
                    field,
                    f"the {role} in {str(path)!r} has a vocabulary of {vocab} but the base "
                    f"model's has {base_info.vocab_size}: DExperts needs one vocabulary",
                )
            )
            continue
        try:
            info = validate_causal_checkpoint(path, tokenizer_path=base)
        except CheckpointError as exc:
            problems.append(Problem(field, str(exc)))
            continue
        if any((path / name).exists() for name in TOKENIZER_FILES):
            if base_vocab is None:
                base_vocab = _tokenizer_vocab(Path(base))
            try:
                own = _tokenizer_vocab(path)
            except Exception as exc:
                problems.append(
                    Problem(field, f"cannot load the {role} tokenizer in {str(path)!r}: {exc}")
                )
                continue
            if own != base_vocab:
                problems.append(
                    Problem(
                        field,
                        f"the {role} tokenizer in {str(path)!r} maps tokens to other ids than the base "
                        "tokenizer: DExperts needs one tokenizer",
                    )
                )
                continue
        out[role.replace("-", "")] = _info_dict(info)
    return out


def _config_vocab_size(path: Path) -> int | None:
    """The vocabulary size in a model folder's config.json, or None when it cannot be read
    (the full checkpoint check then reports why)."""
    try:
        from transformers import AutoConfig  # heavy: only when checking files

        config = AutoConfig.from_pretrained(str(path))
        return int(config.get_text_config(decoder=True).vocab_size)
    except Exception:
        return None


def _tokenizer_vocab(path: Path) -> dict:
    from transformers import AutoTokenizer  # heavy: only when checking files

    return AutoTokenizer.from_pretrained(str(path)).get_vocab()


def _info_dict(info: Any) -> dict:
    return {
        "model_type": info.model_type,
        "vocab_size": info.vocab_size,
        "tokenizer_size": info.tokenizer_size,
        "tokenizer_path": info.tokenizer_path,
        "has_chat_template": info.has_chat_template,
        "max_positions": info.max_positions,
        **({"adapter": info.adapter} if info.adapter else {}),
    }


CHECKPOINT_CHECKS: dict[str, Callable[[list[Problem], dict[str, Any], Samples], dict[str, Any]]] = {
    SystemKind.HF_CAUSAL: _check_causal,
    SystemKind.HF_SEQ2SEQ: _check_seq2seq,
    SystemKind.DEXPERTS: _check_dexperts,
}
