"""What the annotator's pages show, from the normalised spec (pure: plain dicts in and out).

The names on the page come from the spec's `wording` (what the reply is called, how the
dataset's speakers are shown); the solved example's answers are shown the way the
annotator's own controls look (a slider drawn at its value, Yes/No, the chosen A/B), never
as internal keys: each dimension type draws its own (``DimensionBase.shown_example``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.vocabulary import Protocol

from ..dimensions import dimension_of


def wording(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's wording with its defaults (specs stored before it existed have none)."""
    given = spec.get("wording") or {}
    return {
        "response": given.get("response") or "Response",
        "speakers": given.get("speakers") or {},
    }


def shown_turns(turns: Sequence[Mapping[str, Any]], words: Mapping[str, Any]) -> list[dict]:
    names = words["speakers"]
    return [
        {"speaker": names.get(t.get("speaker"), t.get("speaker")), "text": t.get("text", "")}
        for t in turns
    ]


def response_speaker(turns: Sequence[Mapping[str, Any]], words: Mapping[str, Any]) -> str | None:
    """Who answers, when the dialogue says so: in a two-party dialogue, the speaker before
    the last turn. None for a single turn (the box's title already says what it is)."""
    if len(turns) >= 2 and turns[-2].get("speaker") != turns[-1].get("speaker"):
        speaker = turns[-2].get("speaker")
        return words["speakers"].get(speaker, speaker) if speaker else None
    return None


def solved_example(spec: Mapping[str, Any]) -> dict | None:
    """The spec's solved example ready to draw: its conversation, the response(s), and per
    dimension (in the study's order) the answer as the annotator's control shows it."""
    example = spec.get("example")
    if not example:
        return None
    words = wording(spec)
    turns = example.get("turns") or example.get("context") or []
    answers = example.get("answers") or {}
    shown_answers = []
    for dim in spec.get("dimensions", []):
        if dim["key"] not in answers:
            continue
        shown = dimension_of(dim).shown_example(answers[dim["key"]])
        shown_answers.append({"dim": dim, "type": dim["type"], **shown})
    return {
        "turns": shown_turns(turns, words),
        "response_speaker": response_speaker(turns, words),
        "response": example.get("response"),
        "response_a": example.get("response_a"),
        "response_b": example.get("response_b"),
        "answers": shown_answers,
        "explanation": example.get("explanation"),
    }


def progress(index: int, total: int, *, qualification: bool = False) -> dict[str, Any]:
    """Where the annotator is in the batch (``index``: 0-based) as item.html shows it: the
    item's number, how many are done before it, the bar's width, the button's label."""
    return {
        "position": index + 1,
        "total": total,
        "answered": index,
        "percent": round(100 * index / total) if total else 0,
        "submit_label": "Finish" if index + 1 == total and not qualification else "Next",
    }


def dialogue_context(study: Any, item: Any, turns: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What ``annotation/_dialogue.html`` (the conversation and the response(s)) is given."""
    words = wording(study.spec)
    return {
        "item": item,
        "turns": shown_turns(turns, words),
        "response_speaker": response_speaker(turns, words),
        "pairwise": study.protocol == Protocol.PAIRWISE,
        "wording": words,
    }


def item_context(
    study: Any,
    entry: Any,
    total: int,
    dimensions: list[dict[str, Any]],
    *,
    errors: Sequence[str] = (),
    notice: str = "",
    idempotency_key: str = "",
) -> dict[str, Any]:
    """What ``annotation/item.html`` is given for one batch entry: the annotator's item view
    and the researcher's preview of it draw the same page from this."""
    return {
        "entry": entry,
        **dialogue_context(study, entry.item, entry.item.context.turns),
        **progress(entry.position, total),
        "dimensions": dimensions,
        "errors": list(errors),
        "notice": notice,
        "idempotency_key": idempotency_key,
    }
