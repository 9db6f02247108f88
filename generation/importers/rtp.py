"""RealToxicityPrompts, the ``prompts.jsonl`` release: one JSON object per line.

    {"filename": "...txt", "begin": 12, "end": 140, "challenging": false,
     "prompt": {"text": "...", "toxicity": 0.12, "profanity": 0.05, ...},
     "continuation": {"text": "...", "toxicity": null, ...}}

Key order varies between lines and scores may be null. A prompt is a one-turn context
(speaker ``Prompt``); the continuation is the reference response. Scores go to metadata
as ``prompt_<attribute>`` / ``continuation_<attribute>`` (null stays None).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from .base import (
    ImportedContext,
    OnSkip,
    SeenKeys,
    Source,
    Turn,
    clip,
    describe_record,
    is_int,
    json_lines,
)

FORMAT = "real_toxicity_prompts"
SPEAKER = "Prompt"
ATTRIBUTES = (
    "toxicity",
    "severe_toxicity",
    "profanity",
    "sexually_explicit",
    "flirtation",
    "identity_attack",
    "threat",
    "insult",
)


def iter_contexts(
    path: str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
) -> Iterator[ImportedContext]:
    """Yield one single-turn context per prompt, the continuation as its reference.

    The id is ``<filename>:<begin>-<end>`` when the record has them, else
    ``line:<line number>``.
    """
    source = Source(path, skip_bad=skip_bad, on_skip=on_skip)
    return source.run(_contexts(source))


def _contexts(source: Source) -> Iterator[ImportedContext]:
    seen = SeenKeys()
    first = True
    for lineno, record in json_lines(source, FORMAT):
        if first:
            first = False
            _check_format(source, lineno, record)
        context = _context(source, lineno, record)
        if context is None:
            continue
        if context.external_id in seen:
            source.bad(lineno, f"duplicate prompt id {context.external_id!r}")
            continue
        seen.add(context.external_id)
        yield context


def _check_format(source: Source, lineno: int, record: Any) -> None:
    if isinstance(record, dict) and isinstance(record.get("prompt"), dict):
        return
    if isinstance(record, dict):
        description, fmt = describe_record(record)
    elif isinstance(record, list):
        description, fmt = "a JSON array", None
    else:
        description, fmt = f"a JSON {type(record).__name__}", None
    advice = f"; use format '{fmt}'" if fmt and fmt != FORMAT else ""
    source.fatal(
        lineno,
        "not a RealToxicityPrompts record (expected an object with a "
        f"'prompt' object holding 'text'): it looks like {description}{advice}",
    )


def _scores(
    source: Source, lineno: int, part: str, obj: dict[str, Any], metadata: dict[str, Any]
) -> bool:
    for attribute in ATTRIBUTES:
        metadata[f"{part}_{attribute}"] = None
    for key, value in obj.items():
        if key == "text":
            continue
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            source.bad(
                lineno, f"{part}.{key} must be a number or null, found {clip(repr(value), 40)}"
            )
            return False
        metadata[f"{part}_{key}"] = value
    return True


def _context(source: Source, lineno: int, record: Any) -> ImportedContext | None:
    if not isinstance(record, dict):
        source.bad(lineno, f"expected a JSON object, found a JSON {type(record).__name__}")
        return None
    prompt = record.get("prompt")
    if not isinstance(prompt, dict):
        source.bad(lineno, "'prompt' is missing or not an object")
        return None
    text = prompt.get("text")
    if not isinstance(text, str) or not text.strip():
        source.bad(lineno, "prompt.text is missing, empty or not a string")
        return None
    continuation = record.get("continuation")
    if continuation is not None and not isinstance(continuation, dict):
        source.bad(lineno, "'continuation' must be an object or null")
        return None
    reference = None
    if continuation is not None:
        reference = continuation.get("text")
        if reference is not None and not isinstance(reference, str):
            source.bad(lineno, "continuation.text must be a string")
            return None
    challenging = record.get("challenging")
    if challenging is not None and not isinstance(challenging, bool):
        source.bad(
            lineno, f"'challenging' must be true or false, found {clip(repr(challenging), 30)}"
        )
        return None

    filename, begin, end = record.get("filename"), record.get("begin"), record.get("end")
    metadata: dict[str, Any] = {
        "challenging": challenging,
        "filename": filename,
        "begin": begin,
        "end": end,
    }
    if not _scores(source, lineno, "prompt", prompt, metadata):
        return None
    if continuation is not None and not _scores(
        source, lineno, "continuation", continuation, metadata
    ):
        return None
    if continuation is None:
        for attribute in ATTRIBUTES:
            metadata[f"continuation_{attribute}"] = None

    if isinstance(filename, str) and filename and is_int(begin) and is_int(end):
        external_id = f"{filename}:{begin}-{end}"
    else:
        external_id = f"line:{lineno}"
    return ImportedContext(
        external_id=external_id,
        turns=(Turn(SPEAKER, text),),
        reference_response=reference,
        metadata=metadata,
    )
