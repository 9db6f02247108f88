"""EmpatheticDialogues, the original release CSV (train.csv / valid.csv / test.csv).

The file is *not* RFC 4180 CSV: nothing is quoted, commas inside text are written as
``_comma_``, and a row may carry a 9th field (and more) of ``|``-separated candidate
responses. So each line is split on commas, exactly like the dataset's own loaders do.

    conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags
    hit:0_conv:1,1,sentimental,I found my old diary_comma_ ...,1,Guess what I found?,5|5|5_2|2|5,

``context`` is the emotion label, ``prompt`` the situation. Rows of one conversation are
contiguous; within a conversation they are ordered here by ``utterance_idx`` (the
published loaders trust file order, which is wrong for a re-sorted file).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from .base import (
    ImportedContext,
    OnSkip,
    SeenKeys,
    Source,
    Turn,
    clip,
    describe_first_line,
)

FORMAT = "empathetic_dialogues"
HEADER = (
    "conv_id",
    "utterance_idx",
    "context",
    "prompt",
    "speaker_idx",
    "utterance",
    "selfeval",
    "tags",
)
SPEAKER = "Speaker"
LISTENER = "Listener"

# One parsed row: (utterance_idx, speaker_idx, utterance, line, all fields of the line)
_Row = tuple[int, int, str, int, list[str]]


def iter_contexts(
    path: str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    on_skip: OnSkip | None = None,
    all_prefixes: bool = False,
) -> Iterator[ImportedContext]:
    """Yield one context per conversation (or per listener turn with ``all_prefixes``).

    A context is every turn before the conversation's last Listener turn; that turn is
    the reference response. ``all_prefixes=True`` yields a context for every Listener
    turn instead, with ids ``<conv_id>:<utterance_idx of the listener turn>``.
    """
    source = Source(path, skip_bad=skip_bad, on_skip=on_skip)
    return source.run(_contexts(source, bool(all_prefixes)))


def unescape(text: str) -> str:
    return text.replace("_comma_", ",")


def _contexts(source: Source, all_prefixes: bool) -> Iterator[ImportedContext]:
    # Hot loop: kept lean on purpose (few allocations per row). Line endings are kept:
    # they only ever end up in fields we do not read (tags / candidates).
    lines = source.lines(keep_ends=True)
    for lineno, text in lines:
        if not text.isspace():
            _check_header(source, lineno, text.rstrip("\r\n"))
            break
    else:
        return
    source.header_lines = 1

    finished = SeenKeys()
    conv_id: str | None = None
    rows: list[_Row] = []
    for lineno, text in lines:
        if text.isspace():
            continue
        fields = text.split(",")
        if "\x00" in text and not source.cells_storable(lineno, fields, HEADER):
            continue
        if len(fields) < 8:
            source.bad(
                lineno, f"expected 8 fields (or 9+ with candidate responses), found {len(fields)}"
            )
            continue
        cid = fields[0]
        try:
            utt_idx = int(fields[1])
            speaker_idx = int(fields[4])
        except ValueError:
            _report_number(source, lineno, fields)
            continue
        if utt_idx < 1:
            _report_number(source, lineno, fields)
            continue
        utterance = fields[5]
        if "_comma_" in utterance:
            utterance = utterance.replace("_comma_", ",")
        utterance = utterance.strip()
        if not utterance:
            source.bad(lineno, "utterance (field 6) is empty")
            continue

        if cid != conv_id:
            if not cid.strip():
                source.bad(lineno, "conv_id (field 1) is empty")
                continue
            if rows:
                yield from _conversation(source, conv_id, rows, all_prefixes)  # type: ignore[arg-type]
                finished.add(conv_id)  # type: ignore[arg-type]
                rows = []
            conv_id = None
            if cid in finished:
                source.bad(
                    lineno,
                    f"conversation {cid} appears again after other "
                    "conversations; the rows of a conversation must be "
                    "together in the file",
                )
                continue
            conv_id = cid
        rows.append((utt_idx, speaker_idx, utterance, lineno, fields))
    if rows:
        yield from _conversation(source, conv_id, rows, all_prefixes)  # type: ignore[arg-type]


def _report_number(source: Source, lineno: int, fields: list[str]) -> None:
    for position, name in ((2, "utterance_idx"), (5, "speaker_idx")):
        value = fields[position - 1]
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or (name == "utterance_idx" and number < 1):
            rule = "a whole number >= 1" if name == "utterance_idx" else "a whole number"
            source.bad(
                lineno,
                f"{name} (field {position}) must be {rule}, found {clip(value.strip(), 30)!r}",
            )
            return


def _check_header(source: Source, lineno: int, text: str) -> None:
    names = tuple(name.strip() for name in text.split(","))
    if names[:8] == HEADER:
        return
    description, fmt = describe_first_line(text)
    if fmt in (None, FORMAT):
        advice = f"it looks like {description}"
    elif fmt == "csv":
        advice = "for other CSV layouts use format 'csv' with a column mapping"
    else:
        advice = f"it looks like {description}; use format '{fmt}'"
    source.fatal(
        lineno,
        f"not an EmpatheticDialogues CSV: expected the header "
        f"{','.join(HEADER)!r}, found {clip(text)!r} ({advice})",
    )


def _conversation(
    source: Source, conv_id: str, rows: list[_Row], all_prefixes: bool
) -> Iterator[ImportedContext]:
    rows.sort(key=lambda row: row[0])  # stable: by utterance_idx, not file order
    first_line = min([row[3] for row in rows])
    for position, row in enumerate(rows, start=1):
        if row[0] != position:
            if position > 1 and row[0] == rows[position - 2][0]:
                source.bad(
                    row[3],
                    f"conversation {conv_id}: utterance_idx {row[0]} appears "
                    f"twice (also line {rows[position - 2][3]})",
                )
            else:
                have = ", ".join(str(r[0]) for r in rows[:12])
                source.bad(
                    first_line,
                    f"conversation {conv_id}: utterance_idx {position} is missing (found {have})",
                )
            return
    speakers = {row[1] for row in rows}
    if len(speakers) > 2:
        source.bad(
            first_line,
            f"conversation {conv_id} has {len(speakers)} speaker_idx "
            f"values ({', '.join(map(str, sorted(speakers)))}); expected 2",
        )
        return
    first_speaker = rows[0][1]
    turns = tuple(Turn(SPEAKER if row[1] == first_speaker else LISTENER, row[2]) for row in rows)
    listener_at = [i for i, turn in enumerate(turns) if turn.speaker == LISTENER]
    if not listener_at:
        source.bad(
            first_line,
            f"conversation {conv_id} has no listener turn "
            f"({len(rows)} utterance(s) by one speaker), so there is no "
            "reference response",
        )
        return
    fields = rows[0][4]
    emotion, situation, selfeval = fields[2].strip(), unescape(fields[3]).strip(), fields[6].strip()
    # a context ends with a Speaker turn: answer only Listener turns that follow one
    answerable = [i for i in listener_at if turns[i - 1].speaker == SPEAKER]
    targets = answerable if all_prefixes else answerable[-1:]
    for i in targets:
        metadata = {
            "emotion": emotion,
            "situation": situation,
            "conv_id": conv_id,
            "reference_utterance_idx": rows[i][0],
        }
        if selfeval:
            metadata["selfeval"] = selfeval
        yield ImportedContext(
            external_id=f"{conv_id}:{rows[i][0]}" if all_prefixes else conv_id,
            turns=turns[:i],
            reference_response=turns[i].text,
            metadata=metadata,
        )
