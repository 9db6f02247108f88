"""Researchers watch generation jobs: the console page and the live WebSocket."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from evalsite.routing import websocket_urlpatterns
from generation import services
from generation.models import Context, Dataset
from generation.services import register_system

pytest_plugins = ["tests.generation.tiny_models"]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.models]


@pytest.fixture
def job(tiny_gpt2):
    dataset = Dataset.objects.create(name="console-ds", format="jsonl")
    contexts = [
        Context.objects.create(
            dataset=dataset,
            external_id=f"c{i}",
            turns=[{"speaker": "Speaker", "text": f"Hello number {i}."}],
        )
        for i in range(3)
    ]
    system = register_system(
        "console-gpt2",
        "hf_causal",
        {
            "path": str(tiny_gpt2),
            "device": "cpu",
            "chat_template": False,
            "decoding": {"max_new_tokens": 4, "do_sample": False},
        },
    )
    return services.create_job(system, contexts, chunk_size=1)


def test_console_lists_jobs_with_progress(job, admin_client):
    page = admin_client.get("/console/generation/").content.decode()
    assert f'data-job="{job.id}"' in page and "console-gpt2" in page and "pending" in page
    services.dispatch_job(job)  # eager: runs in-process
    page = admin_client.get("/console/generation/").content.decode()
    assert "completed" in page and 'style="width:100%"' in page


def test_websocket_pushes_progress_while_the_job_runs(job):
    staff = get_user_model().objects.create_user("r", password="x", is_staff=True)

    async def scenario():
        communicator = WebsocketCommunicator(
            URLRouter(websocket_urlpatterns), f"/ws/generation/{job.id}/progress/"
        )
        communicator.scope["user"] = staff
        connected, _ = await communicator.connect()
        assert connected
        first = await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(services.dispatch_job)(job)
        pushed = [await communicator.receive_json_from(timeout=10)]
        while pushed[-1]["done"] < pushed[-1]["total"] or pushed[-1]["status"] != "completed":
            pushed.append(await communicator.receive_json_from(timeout=10))
        await communicator.disconnect()
        return first, pushed

    first, pushed = async_to_sync(scenario)()
    assert first == {"job": job.id, "status": "pending", "done": 0, "total": 3, "error": ""}
    assert pushed[-1]["done"] == 3 and pushed[-1]["status"] == "completed"
    assert [p["done"] for p in pushed] == sorted(p["done"] for p in pushed)
