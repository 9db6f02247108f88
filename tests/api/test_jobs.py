"""Generation jobs through the API: created and run (in this process without a broker),
read, cancelled and resumed, with a tiny model built on the fly."""

from __future__ import annotations

import pytest

from generation.models import Candidate, Context, Dataset, GenerationJob
from generation.services import register_system

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.models,
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
]


@pytest.fixture
def dataset(db) -> Dataset:
    dataset = Dataset.objects.create(name="jobs-api", format="jsonl")
    Context.objects.bulk_create(
        Context(dataset=dataset, external_id=f"c{i}", turns=[{"speaker": "Speaker", "text": t}])
        for i, t in enumerate(["I lost my keys.", "We bought a house!", "My cat is ill."])
    )
    return dataset


@pytest.fixture
def gpt2(tiny_gpt2):
    return register_system(
        "tiny-gpt2",
        "hf_causal",
        {
            "path": str(tiny_gpt2),
            "device": "cpu",
            "chat_template": False,
            "decoding": {"max_new_tokens": 4, "do_sample": False},
        },
    )


def test_a_job_is_created_run_cancelled_and_resumed(api, dataset, gpt2, eager):
    made = api.post(
        "/api/jobs",
        {"system": "tiny-gpt2", "dataset": "jobs-api", "context_ids": ["c0", "c2"]},
        content_type="application/json",
    )
    assert made.status_code == 201, made.content
    job = made.json()
    assert (job["status"], job["done"], job["total"]) == ("completed", 2, 2)
    assert api.get(f"/api/jobs/{job['id']}").json()["status"] == "completed"
    assert [j["id"] for j in api.get("/api/jobs").json()] == [job["id"]]

    # a finished job stays finished when cancelled
    assert api.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "completed"
    # cancelled with a candidate missing, resumed: only what is missing is made again
    Candidate.objects.filter(generation_job_id=job["id"]).first().delete()
    GenerationJob.objects.filter(pk=job["id"]).update(status="running")
    assert api.post(f"/api/jobs/{job['id']}/cancel").json()["status"] == "cancelled"
    assert api.get(f"/api/jobs/{job['id']}").json()["done"] == 1
    resumed = api.post(f"/api/jobs/{job['id']}/resume").json()
    assert (resumed["status"], resumed["done"]) == ("completed", 2)


def test_a_job_that_cannot_be_made_is_a_400(api, dataset, gpt2):
    for body, field in (
        ({"system": "tiny-gpt2", "dataset": "nope"}, "dataset"),
        ({"system": "tiny-gpt2", "dataset": "jobs-api", "context_ids": ["zz"]}, "context_ids"),
        ({"system": "nobody", "dataset": "jobs-api"}, "(job)"),
        ({"system": "tiny-gpt2", "dataset": "jobs-api", "chunk_size": 0}, "(job)"),
    ):
        refused = api.post("/api/jobs", body, content_type="application/json")
        assert refused.status_code == 400, body
        assert refused.json()["problems"][0]["field"] == field, refused.json()
    assert not GenerationJob.objects.exists()
    assert api.get("/api/jobs/999").status_code == 404
