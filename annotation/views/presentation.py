"""What the annotator's pages show, from the normalised spec (pure: plain dicts in and out).

The names on the page come from the spec's `wording` (what the reply is called, how the
dataset's speakers are shown); the solved example's answers are shown the way the
annotator's own controls look (a slider drawn at its value, Yes/No, the chosen A/B), never
as internal keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

CHOICE_OPTIONS = (("a", "A"), ("tie", "Tie"), ("b", "B"))


def wording(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's wording with its defaults (specs stored before it existed have none)."""
    given = spec.get("wording") or {}
    return {"response": given.get("response") or "Response", "speakers": given.get("speakers") or {}}


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


def dimensions_for_form(dimensions: Sequence[Mapping[str, Any]], submitted: Mapping) -> list[dict]:
    """Each dimension with what the form needs: likert options, values sent back after an
    error (so a refused submit keeps the annotator's answers)."""
    values = submitted.get("values", {})
    rationales = submitted.get("rationales", {})
    shown = []
    for dim in dimensions:
        row = dict(dim)
        row["submitted"] = values.get(dim["key"], "")
        row["submitted_rationale"] = rationales.get(dim["key"], "")
        if dim["type"] == "likert":
            row["options"] = likert_options(dim)
        elif dim["type"] == "choice":
            row["options"] = [
                (value, text) for value, text in CHOICE_OPTIONS
                if value != "tie" or dim.get("allow_tie", True) is not False
            ]
        shown.append(row)
    return shown


def likert_options(dim: Mapping[str, Any]) -> list[tuple[int, str]]:
    labels = dim.get("labels") or []
    return [
        (i, labels[i - 1] if len(labels) >= i else str(i)) for i in range(1, int(dim["points"]) + 1)
    ]


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
        value = answers[dim["key"]]
        row: dict[str, Any] = {"dim": dim, "type": dim["type"]}
        if dim["type"] == "slider":
            row["number"] = float(value)
            row["percent"] = max(0.0, min(100.0, float(value)))
        elif dim["type"] == "checkbox":
            row["checked"] = bool(value)
            row["text"] = "Yes" if value else "No"
        elif dim["type"] == "likert":
            row["options"] = [
                {"value": v, "text": text, "chosen": v == int(value)} for v, text in likert_options(dim)
            ]
            row["text"] = next(o["text"] for o in row["options"] if o["chosen"])
        elif dim["type"] == "choice":
            chosen = str(value).lower()
            row["options"] = [
                {"value": v, "text": text, "chosen": v == chosen} for v, text in CHOICE_OPTIONS
                if v != "tie" or dim.get("allow_tie", True) is not False
            ]
            row["text"] = dict(CHOICE_OPTIONS).get(chosen, str(value))
        shown_answers.append(row)
    return {
        "turns": shown_turns(turns, words),
        "response_speaker": response_speaker(turns, words),
        "response": example.get("response"),
        "response_a": example.get("response_a"),
        "response_b": example.get("response_b"),
        "answers": shown_answers,
        "explanation": example.get("explanation"),
    }
