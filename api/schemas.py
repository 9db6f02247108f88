"""The shapes of the API's requests and answers (ninja Schemas, i.e. pydantic models).

The study spec itself is not restated here: its pydantic models (annotation.spec) are
published in the OpenAPI document as they are (``spec_components``), so the API, the
editor and ``spec_schema`` share one schema.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Schema

from annotation.spec import StudySpec

SPEC_SCHEMA = "StudySpec"
SPEC_REF = f"#/components/schemas/{SPEC_SCHEMA}"


def spec_components() -> dict[str, Any]:
    """The spec's JSON Schema as OpenAPI components: StudySpec and each of its parts."""
    schema = StudySpec.model_json_schema(
        mode="validation", ref_template="#/components/schemas/{model}"
    )
    parts = schema.pop("$defs", {})
    return {**parts, SPEC_SCHEMA: schema}


class Message(Schema):
    detail: str


class ProblemOut(Schema):
    """One problem of an input, ``field.path: reason`` (``text``), with the line of the
    spec where it is when known."""

    field: str
    reason: str
    line: int | None = None
    text: str


class Problems(Schema):
    """Everything wrong with the input; nothing was created or changed."""

    problems: list[ProblemOut]


class SpecCheck(Schema):
    valid: bool
    problems: list[ProblemOut]


class StudyOut(Schema):
    name: str
    title: str
    protocol: str
    status: str
    spec_hash: str
    overlap: int
    created_at: datetime
    role: str | None  # the caller's role in the study (None: staff who is not a member)


class StatusChange(Schema):
    action: Literal["open", "pause", "close"]


class SlotCounts(Schema):
    total: int
    completed: int
    leased: int
    free: int


class ProgressOut(Schema):
    study: str
    batches: int
    slots: SlotCounts
    participants: int
    active_assignments: int
    expired_assignments: int
    judgments: int


class ResultsPending(Schema):
    status: Literal["pending", "running"]
    judgment_count: int


class ResultsOut(Schema):
    """The full analysis (as in the results bundle): ``analysis`` is its analysis.json,
    ``tables`` its machine tables by name, ``methods`` the methods text."""

    status: Literal["ready"]
    judgment_count: int
    options: dict[str, Any]
    analysis: dict[str, Any]
    tables: dict[str, Any]
    methods: list[str]
    figures: list[str]  # the names of the SVG figures in the results bundle


class DatasetOut(Schema):
    name: str
    format: str
    contexts: int
    created_at: datetime


class DatasetImported(DatasetOut):
    skipped: int
    skipped_rows: list[str]


class SystemIn(Schema):
    name: str
    kind: str
    config: dict[str, Any] = {}


class SystemOut(Schema):
    name: str
    kind: str
    config: dict[str, Any]
    created_at: datetime


class JobIn(Schema):
    system: str
    dataset: str
    context_ids: list[str] | None = None  # the dataset's context ids; None: all of them
    decoding: dict[str, Any] | None = None
    samples_per_context: int | None = None
    chunk_size: int | None = None
    batch_size: int | None = None


class JobOut(Schema):
    id: int
    system: str
    dataset: str
    status: str
    done: int
    total: int
    error: str
    created_at: datetime
