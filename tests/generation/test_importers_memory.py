"""The importers stream: memory stays flat however big the file is.

Peaks are measured with tracemalloc (Python allocations, independent of the machine).
tracemalloc makes every allocation several times slower, so the big EmpatheticDialogues
file is traced over its first eighth (which already shows both ways of getting it
wrong: reading the whole file up front, or keeping something per row) and the rest is
streamed untraced to check the count.
"""

from __future__ import annotations

import itertools
import json
import tracemalloc
from pathlib import Path

from generation.importers import iter_dataset
from generation.importers.empathetic_dialogues import HEADER

MB = 1 << 20


def traced_peak(iterator, count=None):
    """Consume `count` items (all if None) under tracemalloc; return (items, peak bytes)."""
    tracemalloc.start()
    try:
        consumed = sum(1 for _ in itertools.islice(iterator, count))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return consumed, peak


def write_ed(path: Path, rows: int, turns: int = 5) -> int:
    conversations = rows // turns
    with path.open("w", encoding="utf-8") as out:
        out.write(",".join(HEADER) + "\n")
        for conv in range(conversations):
            situation = f"Situation {conv}_comma_ written for the memory test"
            for idx in range(1, turns + 1):
                speaker = 1 if idx % 2 else 2
                out.write(
                    f"hit:{conv}_conv:{2 * conv},{idx},content,{situation},{speaker},"
                    f"Utterance {idx} of conversation {conv}_comma_ with a few more "
                    "words to look like a real one,5|5|5_4|4|4,\n"
                )
    return conversations


def test_empathetic_dialogues_200k_rows_stream_in_bounded_memory(tmp_path):
    path = tmp_path / "big.csv"
    conversations = write_ed(path, 200_000)
    assert path.stat().st_size > 25 * MB

    contexts = iter_dataset("empathetic_dialogues", path)
    # the first 25k rows: keeping ~150 bytes per row would already cost 3.5 MB
    traced, peak = traced_peak(contexts, conversations // 8)
    assert traced == conversations // 8
    assert peak < 2 * MB, f"peak {peak / MB:.1f} MB for a {path.stat().st_size / MB:.0f} MB file"

    rest = list(itertools.islice(contexts, None))  # contexts are small; keep the tail
    assert traced + len(rest) == conversations
    assert rest[-1].external_id == f"hit:{conversations - 1}_conv:{2 * (conversations - 1)}"
    assert rest[-1].reference_response.startswith("Utterance 4 of conversation")


def prosocial_rows(dialogues: int):
    for dialogue in range(dialogues):
        for response in range(3):
            yield {
                "context": f"User line {response} of dialogue {dialogue}, padded with words.",
                "response": f"Bot reply {response} of dialogue {dialogue}, padded with words.",
                "rots": ["It's good to be kind.", "You should listen."],
                "safety_label": "__needs_caution__",
                "safety_annotations": ["needs caution"] * 3,
                "safety_annotation_reasons": ["A reason written by an annotator."] * 3,
                "source": "memtest",
                "etc": f"memtest-{dialogue}",
                "dialogue_id": dialogue,
                "response_id": response,
                "episode_done": response == 2,
            }


def test_prosocial_grouped_jsonl_holds_one_dialogue_at_a_time(tmp_path):
    path = tmp_path / "train.json"
    with path.open("w", encoding="utf-8") as out:
        for row in prosocial_rows(1500):
            out.write(json.dumps(row) + "\n")
    assert path.stat().st_size > 2 * MB
    count, peak = traced_peak(iter_dataset("prosocial_dialog", path))
    assert count == 1500
    assert peak < MB // 2, f"peak {peak / MB:.2f} MB"


def test_prosocial_json_array_is_streamed_element_by_element(tmp_path):
    path = tmp_path / "dialogues.json"
    rows = list(prosocial_rows(1500))
    with path.open("w", encoding="utf-8") as out:
        out.write("[\n")
        for dialogue in range(1500):
            turns = rows[3 * dialogue : 3 * dialogue + 3]
            separator = ",\n" if dialogue else ""
            out.write(separator + json.dumps({"dialogue_id": dialogue, "turns": turns}, indent=1))
        out.write("\n]\n")
    del rows
    assert path.stat().st_size > 2 * MB
    count, peak = traced_peak(iter_dataset("prosocial_dialog", path))
    assert count == 1500
    assert peak < MB // 2, f"peak {peak / MB:.2f} MB"
