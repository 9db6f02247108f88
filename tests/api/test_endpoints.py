"""The API's answers one by one: a spec's problems as ``field.path: reason``, a dataset
file's located errors with nothing imported, a system's config problems with nothing
registered, results while they are computed (202), and generation jobs."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.models import StudyResults
from console.models import Role, StudyMembership
from generation.models import Context, Dataset, System
from tests.console.test_results_page import judged_rating_study

pytestmark = pytest.mark.django_db


def test_a_yaml_spec_that_does_not_parse_names_its_line(api):
    answer = api.post(
        "/api/studies/validate", "name: x\n  bad: [", content_type="application/yaml"
    ).json()
    assert answer["valid"] is False
    assert answer["problems"][0]["field"] == "(spec)" and answer["problems"][0]["line"]


def test_a_json_spec_gets_every_problem_at_its_field(api):
    spec = {"name": "Not A Slug!", "protocol": "rating", "dimensions": [{"key": "q"}]}
    answer = api.post("/api/studies/validate", spec, content_type="application/json").json()
    texts = [p["text"] for p in answer["problems"]]
    assert answer["valid"] is False
    assert any(t.startswith("name: ") for t in texts), texts
    assert any(t.startswith("dimensions[0].") for t in texts), texts
    assert all(p["text"] == f"{p['field']}: {p['reason']}" for p in answer["problems"])
    not_json = api.post("/api/studies/validate", "{", content_type="application/json").json()
    assert not_json["problems"][0]["field"] == "(request)"


def test_a_study_with_problems_creates_nothing(api):
    from annotation.models import Study

    refused = api.post("/api/studies", {"spec": "name: lonely\nprotocol: rating\n"})
    assert refused.status_code == 400
    assert all(": " in p["text"] for p in refused.json()["problems"])
    missing = api.post("/api/studies", {"spec": "contexts:\n  file: c.jsonl\n", "dataset": "nope"})
    assert missing.status_code == 400
    assert missing.json()["problems"][0]["text"] == "dataset: no dataset named 'nope'"
    assert not Study.objects.exists()


ED_HEADER = "conv_id,utterance_idx,context,prompt,speaker_idx,utterance,selfeval,tags\n"


def test_a_bad_dataset_file_is_a_400_naming_its_line_and_imports_nothing(api):
    good = "hit:0_conv:0,1,sad,A day.,1,I lost my keys.,,\nhit:0_conv:0,2,sad,A day.,2,Oh no!,,\n"
    bad = ED_HEADER + good + "hit:1_conv:1,1,sad\n"
    refused = api.post(
        "/api/datasets",
        {
            "file": SimpleUploadedFile("broken.csv", bad.encode()),
            "name": "broken",
            "format": "empathetic_dialogues",
        },
    )
    assert refused.status_code == 400
    (problem,) = refused.json()["problems"]
    assert problem["field"] == "file" and "broken.csv line 4" in problem["reason"], problem
    assert not Dataset.objects.exists() and not Context.objects.exists()
    for fields, field in (
        ({"name": "Bad Name", "format": "csv"}, "name"),
        ({"name": "ok", "format": "parquet"}, "format"),
        ({"name": "ok", "format": "csv", "map": ["nonsense"]}, "map"),
    ):
        answer = api.post("/api/datasets", {"file": SimpleUploadedFile("x.csv", b"a\n"), **fields})
        assert answer.status_code == 400, fields
        assert answer.json()["problems"][0]["field"] == field, answer.json()
    assert not Dataset.objects.exists()


def test_a_generic_jsonl_with_a_column_mapping(api):
    lines = [json.dumps({"uid": f"u{i}", "text": f"Hello {i}"}) for i in range(3)]
    made = api.post(
        "/api/datasets",
        {
            "file": SimpleUploadedFile("mine.jsonl", "\n".join(lines).encode()),
            "name": "mine",
            "format": "jsonl",
            "map": ["uid=id", "turns=text"],
        },
    )
    assert made.status_code == 201, made.content
    assert made.json()["contexts"] == 3
    assert set(Context.objects.values_list("external_id", flat=True)) == {"u0", "u1", "u2"}


def test_a_system_with_a_bad_config_is_a_400_and_nothing_is_registered(api):
    refused = api.post(
        "/api/systems",
        {"name": "gpt", "kind": "hf_causal", "config": {"path": "/no/such/model", "top_p": 7}},
        content_type="application/json",
    )
    assert refused.status_code == 400
    texts = [p["text"] for p in refused.json()["problems"]]
    assert any(t.startswith("path: ") for t in texts), texts
    assert not System.objects.exists()
    made = api.post(
        "/api/systems", {"name": "by-hand", "kind": "imported"}, content_type="application/json"
    )
    assert made.status_code == 201, made.content
    assert [s["name"] for s in api.get("/api/systems").json()] == ["by-hand"]


def test_results_are_202_while_computed_with_a_broker(
    api, rita, monkeypatch, django_capture_on_commit_callbacks, eager
):
    from analysis import tasks

    study = judged_rating_study()
    StudyMembership.objects.create(study=study, user=rita, role=Role.VIEWER)
    sent = []
    monkeypatch.setattr(tasks, "is_eager", lambda: False)
    monkeypatch.setattr(tasks.compute_study_results, "apply_async", lambda args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        waiting = api.get(f"/api/studies/{study.name}/results")
    assert waiting.status_code == 202
    assert waiting.json()["status"] == "pending" and len(sent) == 1
    tasks.compute_study_results.apply(args=sent[0])  # what the worker does
    ready = api.get(f"/api/studies/{study.name}/results")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert StudyResults.objects.get().status == StudyResults.Status.READY
    bad = api.get(f"/api/studies/{study.name}/results?alternative=sideways")
    assert bad.status_code == 422 and "alternative" in bad.content.decode()


def test_the_export_escapes_formulas_unless_asked_not_to(api, rita):
    from annotation.models import Judgment

    study = judged_rating_study()
    StudyMembership.objects.create(study=study, user=rita, role=Role.VIEWER)
    judgment = Judgment.objects.filter(study=study).first()
    key = study.dimensions[0]["key"]
    judgment.rationales = {key: "=HYPERLINK(1)"}
    judgment.save(update_fields=["rationales"])

    def text(query: str) -> str:
        response = api.get(f"/api/studies/{study.name}/judgments{query}")
        return b"".join(response.streaming_content).decode()

    assert "'=HYPERLINK(1)" in text("")
    assert "'=HYPERLINK" not in text("?formula_escape=false") and "=HYPERLINK(1)" in text(
        "?formula_escape=false"
    )
