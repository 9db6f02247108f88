"""ProsocialDialog, in the layouts it is found in.

1. Per-turn JSON Lines (the Hugging Face layout): one object per line with
   ``context`` (the user's utterance), ``response`` (the prosocial reply), ``rots``,
   ``safety_label``, ``safety_annotations``, ``safety_annotation_reasons``, ``source``,
   ``etc``, ``dialogue_id``, ``response_id``, ``episode_done``. A dialogue is rebuilt
   from its rows by ``dialogue_id``, ordered by ``response_id`` (not by file order;
   rows of different dialogues may be interleaved).
2. A JSON array of dialogues, our documented shape::

       [{"dialogue_id": 7,
         "turns": [{"context": "...", "response": "...", "rots": ["..."],
                    "safety_label": "__needs_caution__", "safety_annotations": [...],
                    "safety_annotation_reasons": [...], "source": "...", "etc": "...",
                    "response_id": 0}, ...]},
        ...]

   ``response_id`` in a turn is optional (list order is used without it).
   Also accepted in the array: the original release's dialogues (each a list of
   ``{"text": ..., "labels": [reply], ...}`` turns, id = position in the array) and
   per-turn rows as in layout 1.

The layout is recognised from the file's first character (``[`` or ``{``), not from
its name (the Hugging Face files are JSON Lines named ``*.json``).

A dialogue becomes one context: every turn up to its last user utterance, with the last
response as the reference (``per_turn=True``: one context per response instead, ids
``<dialogue_id>:<response_id>``). Turns are spoken by ``User`` and ``Bot``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    json_array_items,
    json_lines,
)

FORMAT = "prosocial_dialog"
USER = "User"
BOT = "Bot"
EXTRA_FIELDS = ("safety_annotations", "safety_annotation_reasons", "source", "etc")


@dataclass(frozen=True)
class _TurnPair:
    line: int
    response_id: int
    context: str
    response: str
    rots: list[str]
    safety_label: str | None
    extra: dict[str, Any]


def iter_contexts(
    path: str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
    per_turn: bool = False,
) -> Iterator[ImportedContext]:
    """Yield one context per dialogue (or per response with ``per_turn``)."""
    source = Source(path, skip_bad=skip_bad, on_skip=on_skip)
    return source.run(_contexts(source, bool(per_turn)))


def _contexts(source: Source, per_turn: bool) -> Iterator[ImportedContext]:
    first = source.first_char()
    if first is None:
        return
    rows = _RowAssembler(source, per_turn)
    if first == "[":
        items = 0
        seen = SeenKeys()
        for index, (line, item) in enumerate(json_array_items(source)):
            items += 1
            if isinstance(item, dict) and "turns" in item:
                yield from _dialogue(source, line, item, per_turn, seen)
            elif isinstance(item, list):
                yield from _release_dialogue(source, line, index, item, per_turn)
            elif isinstance(item, dict) and {"context", "response"} <= item.keys():
                yield from rows.add(line, item)
            elif index == 0:
                _wrong_format(source, line, item, "an element of the JSON array")
            else:
                source.bad(
                    line,
                    "expected a dialogue (an object with 'turns', or a list of "
                    "turns) or a per-turn row",
                )
        if items == 0:
            source.empty_detail = "the JSON array is empty"
    else:
        checked = False
        for line, item in json_lines(source, FORMAT):
            if not checked:
                checked = True
                if not (isinstance(item, dict) and {"context", "response"} <= item.keys()):
                    _wrong_format(source, line, item, "the first line")
            yield from rows.add(line, item)
    yield from rows.finish()


def _wrong_format(source: Source, line: int, item: Any, what: str) -> None:
    if isinstance(item, dict):
        description, fmt = describe_record(item)
    else:
        description, fmt = f"a JSON {type(item).__name__}", None
    advice = f"; use format '{fmt}'" if fmt and fmt != FORMAT else ""
    source.fatal(
        line,
        f"not ProsocialDialog data: {what} should be a per-turn row with "
        f"'context' and 'response' (or a dialogue with 'turns'), but it is "
        f"{description}{advice}",
    )


# --------------------------------------------------------------------------- turns


def _turn(source: Source, line: int, obj: Any, response_id: int, where: str) -> _TurnPair | None:
    """Validate one turn pair; report a bad row and return None if it is wrong."""
    if not isinstance(obj, dict):
        source.bad(line, f"{where}: expected an object, found a JSON {type(obj).__name__}")
        return None
    context, response = obj.get("context"), obj.get("response")
    for name, value in (("context", context), ("response", response)):
        if not isinstance(value, str) or not value.strip():
            state = "missing" if value is None else "empty or not a string"
            source.bad(line, f"{where}: '{name}' is {state}")
            return None
    rots = obj.get("rots")
    if rots is None:
        rots = []
    if not isinstance(rots, list) or not all(isinstance(r, str) for r in rots):
        source.bad(line, f"{where}: 'rots' must be a list of strings or null")
        return None
    label = obj.get("safety_label")
    if label is not None and not isinstance(label, str):
        source.bad(line, f"{where}: 'safety_label' must be a string, found {clip(repr(label), 30)}")
        return None
    extra = {name: obj.get(name) for name in EXTRA_FIELDS}
    assert isinstance(context, str) and isinstance(response, str)  # checked above
    return _TurnPair(line, response_id, context.strip(), response.strip(), rots, label, extra)


def _contexts_of(
    dialogue_id: Any, pairs: list[_TurnPair], per_turn: bool
) -> Iterator[ImportedContext]:
    ends = range(len(pairs)) if per_turn else (len(pairs) - 1,)
    for end in ends:
        turns: list[Turn] = []
        for pair in pairs[:end]:
            turns.append(Turn(USER, pair.context))
            turns.append(Turn(BOT, pair.response))
        last = pairs[end]
        turns.append(Turn(USER, last.context))
        metadata: dict[str, Any] = {
            "dialogue_id": dialogue_id,
            "response_id": last.response_id,
            "safety_label": last.safety_label,
            "rots": list(last.rots),
            **last.extra,
            "turn_safety_labels": [p.safety_label for p in pairs[: end + 1]],
            "turn_rots": [list(p.rots) for p in pairs[: end + 1]],
        }
        yield ImportedContext(
            external_id=f"{dialogue_id}:{last.response_id}" if per_turn else str(dialogue_id),
            turns=tuple(turns),
            reference_response=last.response,
            metadata=metadata,
        )


# --------------------------------------------------------------------------- JSON array


def _dialogue(
    source: Source, line: int, item: dict[str, Any], per_turn: bool, seen: SeenKeys
) -> Iterator[ImportedContext]:
    dialogue_id = item.get("dialogue_id")
    if not (is_int(dialogue_id) or (isinstance(dialogue_id, str) and dialogue_id.strip())):
        source.bad(line, "dialogue_id is missing or not an integer/string")
        return
    if str(dialogue_id) in seen:
        source.bad(line, f"dialogue {dialogue_id} appears twice in the array")
        return
    turns = item["turns"]
    if not isinstance(turns, list) or not turns:
        source.bad(line, f"dialogue {dialogue_id}: 'turns' must be a non-empty list")
        return
    pairs = []
    for index, obj in enumerate(turns):
        rid = obj.get("response_id", index) if isinstance(obj, dict) else index
        if not is_int(rid) or rid < 0:
            source.bad(
                line,
                f"dialogue {dialogue_id}, turn {index + 1}: response_id must be "
                "a whole number >= 0",
            )
            return
        pair = _turn(source, line, obj, rid, f"dialogue {dialogue_id}, turn {index + 1}")
        if pair is None:
            return
        pairs.append(pair)
    pairs.sort(key=lambda p: p.response_id)
    for a, b in zip(pairs, pairs[1:], strict=False):
        if a.response_id == b.response_id:
            source.bad(line, f"dialogue {dialogue_id}: response_id {a.response_id} appears twice")
            return
    seen.add(str(dialogue_id))
    yield from _contexts_of(dialogue_id, pairs, per_turn)


def _release_dialogue(
    source: Source, line: int, index: int, item: list[Any], per_turn: bool
) -> Iterator[ImportedContext]:
    """A dialogue of the original release: a list of {"text", "labels": [reply], ...}."""
    pairs = []
    if not item:
        source.bad(line, f"dialogue {index}: empty list of turns")
        return
    for position, obj in enumerate(item):
        if isinstance(obj, dict) and "context" not in obj:
            labels = obj.get("labels")
            reply = labels[0] if isinstance(labels, list) and labels else None
            obj = {**obj, "context": obj.get("text"), "response": reply}
        pair = _turn(source, line, obj, position, f"dialogue {index}, turn {position + 1}")
        if pair is None:
            return
        pairs.append(pair)
    yield from _contexts_of(index, pairs, per_turn)


# --------------------------------------------------------------------------- per-turn rows


@dataclass
class _Open:
    first_line: int
    dialogue_id: Any
    pairs: dict[int, _TurnPair] = field(default_factory=dict)
    done_at: int | None = None


class _RowAssembler:
    """Rebuilds dialogues from per-turn rows that may come in any order.

    A dialogue is emitted as soon as it is complete: its ``episode_done`` row has been
    seen and so have all response_ids 0..that one. So a grouped file holds one dialogue
    in memory; a shuffled file holds every dialogue that is still incomplete (at worst,
    the whole file). Dialogues still open at the end are emitted if their response_ids
    run 0..n without a gap (a file cut short), else reported.
    """

    def __init__(self, source: Source, per_turn: bool):
        self.source = source
        self.per_turn = per_turn
        self.open: dict[str, _Open] = {}
        self.finished = SeenKeys()

    def add(self, line: int, row: Any) -> Iterator[ImportedContext]:
        source = self.source
        if not isinstance(row, dict):
            source.bad(line, f"expected a JSON object, found a JSON {type(row).__name__}")
            return
        dialogue_id, response_id = row.get("dialogue_id"), row.get("response_id")
        if not (is_int(dialogue_id) or (isinstance(dialogue_id, str) and dialogue_id.strip())):
            state = (
                "missing" if dialogue_id is None else f"not an id: {clip(repr(dialogue_id), 30)}"
            )
            source.bad(line, f"dialogue_id is {state}")
            return
        if not is_int(response_id) or response_id < 0:
            state = "missing" if response_id is None else f"{clip(repr(response_id), 30)}"
            source.bad(line, f"response_id must be a whole number >= 0, found {state}")
            return
        done = row.get("episode_done", False)
        if not isinstance(done, bool):
            source.bad(line, "episode_done must be true or false")
            return
        key = str(dialogue_id)
        if key in self.finished:
            source.bad(
                line,
                f"dialogue {dialogue_id}: a row for response_id {response_id} "
                "comes after the dialogue was complete (duplicate row?)",
            )
            return
        pair = _turn(source, line, row, response_id, f"dialogue {dialogue_id}")
        if pair is None:
            return
        current = self.open.get(key)
        if current is None:
            current = self.open[key] = _Open(first_line=line, dialogue_id=dialogue_id)
        if response_id in current.pairs:
            source.bad(
                line,
                f"dialogue {dialogue_id}: response_id {response_id} appears twice "
                f"(also line {current.pairs[response_id].line})",
            )
            return
        if current.done_at is not None and (response_id > current.done_at or done):
            source.bad(
                line,
                f"dialogue {dialogue_id}: response_id {response_id} conflicts with "
                f"the episode_done row (response_id {current.done_at})",
            )
            return
        if done:
            late = [rid for rid in current.pairs if rid > response_id]
            if late:
                source.bad(
                    line,
                    f"dialogue {dialogue_id}: episode_done at response_id "
                    f"{response_id} but response_id {max(late)} exists "
                    f"(line {current.pairs[max(late)].line})",
                )
                return
            current.done_at = response_id
        current.pairs[response_id] = pair
        if current.done_at is not None and len(current.pairs) == current.done_at + 1:
            del self.open[key]
            self.finished.add(key)
            yield from self._emit(current)

    def _emit(self, dialogue: _Open) -> Iterator[ImportedContext]:
        pairs = [dialogue.pairs[rid] for rid in sorted(dialogue.pairs)]
        yield from _contexts_of(dialogue.dialogue_id, pairs, self.per_turn)

    def finish(self) -> Iterator[ImportedContext]:
        for dialogue in self.open.values():
            rids = sorted(dialogue.pairs)
            missing = next((i for i, rid in enumerate(rids) if rid != i), None)
            if missing is not None:
                have = ", ".join(map(str, rids[:12]))
                self.source.bad(
                    dialogue.first_line,
                    f"dialogue {dialogue.dialogue_id} is incomplete: response_id "
                    f"{missing} is missing (found {have})",
                )
                continue
            yield from self._emit(dialogue)
        self.open.clear()
