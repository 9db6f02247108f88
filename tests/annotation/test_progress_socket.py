"""Researchers' live progress over a WebSocket: staff only, pushed when a judgment lands."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from annotation.assignment import request_work
from annotation.services import get_or_create_participant, next_entry, record_judgment
from evalsite.routing import websocket_urlpatterns
from tests.factories import make_study

pytestmark = pytest.mark.django_db(transaction=True)


def _connect(study, user):
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/studies/{study.name}/progress/"
    )
    communicator.scope["user"] = user
    return communicator


def test_staff_get_progress_and_a_push_after_each_judgment():
    study = make_study(n_batches=1, slots=1)
    staff = get_user_model().objects.create_user("r", password="x", is_staff=True)

    def judge():
        p = get_or_create_participant(study, "p", "cookie")
        assignment = request_work(p).assignment
        record_judgment(
            p,
            entry_id=next_entry(assignment).id,
            values={"empathy": 5},
            rationales={},
            idempotency_key="k",
        )

    async def scenario():
        communicator = _connect(study, staff)
        connected, _ = await communicator.connect()
        assert connected
        first = await communicator.receive_json_from(timeout=5)
        await database_sync_to_async(judge)()
        pushed = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return first, pushed

    first, pushed = async_to_sync(scenario)()
    assert first["judgments"] == 0
    assert pushed["judgments"] == 1 and pushed["slots"]["leased"] == 1


def test_anonymous_visitors_are_refused():
    study = make_study()

    async def scenario():
        communicator = _connect(study, AnonymousUser())
        connected, code = await communicator.connect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert not connected and code == 4403


def test_a_websocket_from_another_site_is_refused_before_the_consumer(settings):
    """The served application checks Origin against ALLOWED_HOSTS: a foreign page cannot
    open the feed with a researcher's cookies. (Reloaded so the check reads these hosts.)"""
    import importlib

    import evalsite.asgi

    settings.ALLOWED_HOSTS = ["eval.example.org"]
    application = importlib.reload(evalsite.asgi).application
    study = make_study()

    async def attempt(origin: bytes):
        communicator = WebsocketCommunicator(
            application,
            f"/ws/studies/{study.name}/progress/",
            headers=[(b"host", b"eval.example.org"), (b"origin", origin)],
        )
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    try:
        foreign = async_to_sync(attempt)(b"https://attacker.example")
        own = async_to_sync(attempt)(b"https://eval.example.org")
    finally:
        settings.ALLOWED_HOSTS = ["*"]
        importlib.reload(evalsite.asgi)
    assert foreign == (False, 1000)  # refused by the origin check (a plain close)
    assert own == (False, 4403)  # reaches the consumer, which refuses an anonymous visitor
