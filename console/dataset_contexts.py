"""An imported dataset's contexts as the contexts file a spec names — the API's ``dataset``
parameter and the new-study page's "contexts from an imported dataset" both use it.

A template's imported systems come with example responses keyed by the template's example
conversations, which a dataset's contexts are not: on the new-study page such a system is
kept when the researcher uploads its responses file (keyed by the dataset's context ids)
with it, and is otherwise left out of the spec (``without_systems``), with a note saying so.
A ``reference`` system is met by the dataset's own reference responses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import PurePosixPath

from django.core.files.uploadedfile import SimpleUploadedFile

from generation.models import Dataset

from .spec_editing import EditorProblem, data_paths, parse_source

__all__ = ["context_lines", "contexts_upload", "without_systems"]


def context_lines(dataset: Dataset) -> Iterator[str]:
    """The dataset's contexts as JSONL lines, one context a line as
    annotation.spec.data_files reads them."""
    for context in dataset.contexts.order_by("id").iterator():
        record = {
            "id": context.external_id,
            "turns": context.turns,
            "reference": context.reference_response,
            "metadata": context.metadata or {},
        }
        yield json.dumps(record, ensure_ascii=False) + "\n"


def contexts_upload(dataset_name: str, source: str) -> tuple[list, list[EditorProblem]]:
    """An imported dataset's contexts as the contexts file the spec names, to be uploaded
    with it; or the problem (no such dataset, no contexts file named)."""
    dataset = Dataset.objects.filter(name=dataset_name).first()
    if dataset is None:
        return [], [EditorProblem("dataset", f"no dataset named {dataset_name!r}")]
    data, _ = parse_source(source)
    path = data_paths(data).get("contexts.file")
    if not isinstance(path, str) or not path:
        return [], [EditorProblem("contexts.file", "name the contexts file the dataset fills")]
    lines = "".join(context_lines(dataset)).encode("utf-8")
    return [SimpleUploadedFile(PurePosixPath(path).name, lines)], []


# A system entry of a template's ``systems:`` list: "  - name: x" and its indented lines.
_SYSTEM_ENTRY = r"^  - name: {name}\n(?:    .*\n)*"
_SYSTEM_LIST = re.compile(r"^(\s*block_randomised_systems: )\[([^\]\n]*)\]", re.MULTILINE)


def without_systems(text: str, names: Iterable[str]) -> str:
    """A template's spec text with the systems ``names`` left out (their entries under
    ``systems:`` and their place in ``design.block_randomised_systems``, emptied when one is left). Templates are
    written in one layout (console/study_templates), which this relies on; the result is
    checked like any spec."""
    gone = set(names)
    for name in gone:
        text = re.sub(_SYSTEM_ENTRY.format(name=re.escape(name)), "", text, flags=re.MULTILINE)

    def kept(match: re.Match[str]) -> str:
        listed = [s.strip() for s in match.group(2).split(",") if s.strip()]
        left = [s for s in listed if s not in gone]
        # one system left is not randomised in blocks (the spec asks for an empty list then)
        return f"{match.group(1)}[{', '.join(left) if len(left) > 1 else ''}]"

    return _SYSTEM_LIST.sub(kept, text)
