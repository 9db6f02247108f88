"""A study from spec to results through the API alone: a dataset uploaded, a spec checked,
a study created from it with imported responses (a draft, its creator the owner), opened,
annotated through the annotator pages, its progress read, its judgments exported and its
results read — then closed."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from annotation.models import Judgment
from console.models import Role, StudyMembership

pytestmark = pytest.mark.django_db

EMOTIONS = ["grateful", "anxious", "proud", "lonely", "excited", "annoyed"]
ED_COLUMNS = [
    "conv_id",
    "utterance_idx",
    "context",
    "prompt",
    "speaker_idx",
    "utterance",
    "selfeval",
    "tags",
]

SPEC = """\
name: api-walk
title: "Replies through the API"
protocol: rating
dimensions:
  - key: emotion_understanding
    label: Emotion understanding
    statement: "The reply shows that the listener picked up on how the speaker feels."
    type: slider
  - key: understandable_consistent
    label: Understandable and consistent
    statement: "The reply is easy to understand and consistent with the conversation."
    type: checkbox
instructions: Rate the listener's last reply.
consent: Your ratings are stored without your name.
systems:
  - name: baseline
    kind: imported
    responses: baseline.jsonl
  - name: sft
    kind: imported
    responses: sft.jsonl
  - name: human
    kind: reference
contexts:
  file: contexts.jsonl
sampling:
  n_contexts: 6
  seed: 1
design:
  batch_size: 6
  block_size: 2
  overlap: 2
completion:
  code: API-WALK
"""


def ed_csv() -> bytes:
    """Six EmpatheticDialogues-style conversations of four turns (the last: the reference)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ED_COLUMNS)
    for i, emotion in enumerate(EMOTIONS):
        turns = [
            f"Something happened to me today, number {i}, and I feel {emotion}.",
            "Oh really? Tell me more about it.",
            f"Well, it was the {i}th time this week.",
            f"That sounds like a lot; I hope tomorrow is calmer for you, friend {i}.",
        ]
        for j, text in enumerate(turns, start=1):
            writer.writerow(
                [f"hit:{i}_conv:{i}", j, emotion, f"A day {i}.", 10 + j % 2, text, "", ""]
            )
    return out.getvalue().encode()


def responses(system: str) -> SimpleUploadedFile:
    lines = [
        json.dumps(
            {"context_id": f"hit:{i}_conv:{i}", "response": f"{system} says: I hear you ({i})."}
        )
        for i in range(len(EMOTIONS))
    ]
    return SimpleUploadedFile(f"{system}.jsonl", ("\n".join(lines) + "\n").encode())


def annotate_a_batch(study_name: str, annotator: str) -> int:
    """One annotator through the annotator pages (consent, instructions, every item)."""
    client = Client()
    client.get(f"/a/{study_name}/?PROLIFIC_PID={annotator}&STUDY_ID=s&SESSION_ID=x")
    client.post(f"/a/{study_name}/consent/", {"consent": "yes"})
    client.post(f"/a/{study_name}/instructions/")
    judged = 0
    while (page := client.get(f"/a/{study_name}/item/")).status_code == 200:
        html = page.content.decode()
        entry = re.search(r'name="entry_id" value="(\d+)"', html)
        if entry is None:
            break
        key = re.search(r'name="idempotency_key" value="(\w+)"', html).group(1)
        post = {
            "entry_id": entry.group(1),
            "idempotency_key": key,
            "time_on_item_ms": "4000",
            "value__emotion_understanding": str((13 * judged + 7 * len(annotator)) % 101),
        }
        if judged % 3:
            post["value__understandable_consistent"] = "true"
        assert client.post(f"/a/{study_name}/item/", post).status_code == 302
        judged += 1
    return judged


def test_a_study_from_spec_to_results_through_the_api(api, rita, eager):
    # 1. a dataset, uploaded in the EmpatheticDialogues format
    uploaded = api.post(
        "/api/datasets",
        {
            "file": SimpleUploadedFile("walk.csv", ed_csv()),
            "name": "walk-ed",
            "format": "empathetic_dialogues",
        },
    )
    assert uploaded.status_code == 201, uploaded.content
    assert uploaded.json()["contexts"] == 6
    assert [d["name"] for d in api.get("/api/datasets").json()] == ["walk-ed"]

    # 2. the spec checked: as YAML it is valid; as JSON with a mistake, the field is named
    checked = api.post("/api/studies/validate", SPEC, content_type="application/yaml")
    assert checked.json() == {"valid": True, "problems": []}
    import yaml

    broken = yaml.safe_load(SPEC) | {"design": {"batch_size": 0, "block_size": 2, "overlap": 2}}
    refused = api.post("/api/studies/validate", broken, content_type="application/json").json()
    assert refused["valid"] is False
    assert any(p["text"].startswith("design.batch_size: ") for p in refused["problems"])

    # 3. the study created from the spec, the dataset's contexts and two imported systems
    created = api.post(
        "/api/studies",
        {"spec": SPEC, "dataset": "walk-ed", "files": [responses("baseline"), responses("sft")]},
    )
    assert created.status_code == 201, created.content
    study = created.json()
    assert (study["name"], study["status"], study["role"]) == ("api-walk", "draft", "owner")
    assert StudyMembership.objects.get(study__name="api-walk").role == Role.OWNER
    early = Client().get("/a/api-walk/?PROLIFIC_PID=early&STUDY_ID=s&SESSION_ID=x", follow=True)
    assert "not open yet" in early.content.decode().lower()

    # 4. opened (a draft cannot be closed before)
    opened = api.post("/api/studies/api-walk/status", {"action": "open"}, "application/json")
    assert opened.status_code == 200 and opened.json()["status"] == "open"

    # 5. annotators complete every batch through the annotator pages
    judged = sum(annotate_a_batch("api-walk", f"annotator-{i}") for i in range(6))
    assert judged == Judgment.objects.filter(study__name="api-walk").count() == 36

    # 6. progress
    progress = api.get("/api/studies/api-walk/progress").json()
    assert progress["judgments"] == 36
    assert progress["slots"]["completed"] == progress["slots"]["total"] > 0

    # 7. the judgments, streamed: CSV (a row per judgment and dimension) and JSON lines
    exported = api.get("/api/studies/api-walk/judgments")
    assert exported.streaming and exported["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert len(rows) == 36 * 2
    assert {r["system"] for r in rows} == {"baseline", "sft", "human"}
    lines = b"".join(api.get("/api/studies/api-walk/judgments?format=jsonl").streaming_content)
    assert len(lines.decode().splitlines()) == 72

    # 8. the results: the full analysis (computed in-process without a broker)
    results = api.get("/api/studies/api-walk/results")
    assert results.status_code == 200, results.content
    body = results.json()
    assert body["status"] == "ready" and body["judgment_count"] == 36
    summary = body["tables"]["summary"]  # as the bundle's json/summary.json
    assert {r["system"] for r in summary["rows"]} == {"baseline", "sft", "human"}
    assert {r["dimension"] for r in summary["rows"]} >= {"emotion_understanding"}
    assert body["methods"] and "rating_distributions" in body["figures"]
    again = api.get("/api/studies/api-walk/results?exclude_flagged=true")
    assert again.status_code == 200 and again.json()["options"]["exclude_flagged"] is True

    # 9. closed; the annotator link then says so
    closed = api.post("/api/studies/api-walk/status", {"action": "close"}, "application/json")
    assert closed.json()["status"] == "closed"
    late = Client().get("/a/api-walk/?PROLIFIC_PID=late&STUDY_ID=s&SESSION_ID=x", follow=True)
    assert "closed" in late.content.decode().lower()
    reopened_twice = api.post(
        "/api/studies/api-walk/status", {"action": "close"}, "application/json"
    )
    assert reopened_twice.status_code == 409 and "closed already" in reopened_twice.json()["detail"]
