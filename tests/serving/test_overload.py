"""The request cap and the busy page, on plain ASGI calls (no server, no database).

`RequestCap` lets `limit` requests into the app at once, queues the rest and answers one
that waited too long with the busy page; `OverloadMiddleware` and `CloseWebSocketOnOverload`
turn "no database connection now" into the same answer instead of a 500.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlencode

import psycopg_pool
import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError
from django.test import RequestFactory

from evalsite.overload import (
    CloseWebSocketOnOverload,
    OverloadMiddleware,
    RequestCap,
    RequestSlots,
    is_overload,
)

FORM = [
    ("csrfmiddlewaretoken", "tok3n"),
    ("entry_id", "12"),
    ("idempotency_key", "k-1"),
    ("value__empathy", "64"),
    ("note", 'a "quoted" <b>answer</b>'),
]


def _scope(path="/a/s/item/", method="GET", accept="text/html"):
    headers = [(b"accept", accept.encode())]
    if method == "POST":
        headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    return {"type": "http", "path": path, "method": method, "headers": headers}


async def _call(app, scope, body=b""):
    """Run one request through `app`; the response's status, headers and body."""
    sent = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body.decode()


def _app_that_counts():
    state = {"inside": 0, "most": 0, "served": 0}

    async def app(scope, receive, send):
        state["inside"] += 1
        state["most"] = max(state["most"], state["inside"])
        await asyncio.sleep(0.01)  # overlap with the others, so the cap has work to do
        state["inside"] -= 1
        state["served"] += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app, state


def test_requests_beyond_the_cap_wait_their_turn_and_none_is_refused():
    app, state = _app_that_counts()
    capped = RequestCap(app, limit=3, wait_seconds=60, retry_seconds=5)

    async def burst():
        return await asyncio.gather(*(_call(capped, _scope()) for _ in range(40)))

    results = async_to_sync(burst)()
    assert [status for status, _, _ in results] == [200] * 40
    assert state["served"] == 40 and state["most"] == 3


def test_without_the_cap_everything_runs_at_once():
    # What the cap changes: the same burst with limit 0 (off) has all 40 inside together.
    app, state = _app_that_counts()
    uncapped = RequestCap(app, limit=0, wait_seconds=60, retry_seconds=5)

    async def burst():
        return await asyncio.gather(*(_call(uncapped, _scope()) for _ in range(40)))

    async_to_sync(burst)()
    assert state["most"] == 40


def test_no_slot_is_lost_to_a_waiter_that_timed_out_or_went_away():
    async def scenario():
        slots = RequestSlots(1)
        assert await slots.enter(1)  # A holds the only slot
        assert not await slots.enter(0.01)  # B gives up
        gone = asyncio.ensure_future(slots.enter(60))  # C goes away while waiting
        late = asyncio.ensure_future(slots.enter(60))  # D waits its turn
        await asyncio.sleep(0)
        gone.cancel()
        slots.leave()  # A leaves: the slot skips B and C and goes to D
        assert await late
        slots.leave()
        return slots.free

    assert async_to_sync(scenario)() == 1


def _blocked_app():
    release = asyncio.Event()

    async def app(scope, receive, send):
        if not scope["path"].startswith("/static/"):  # a static file is answered at once
            await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app, release


def test_a_post_that_waited_too_long_gets_the_busy_page_with_its_fields_to_send_again():
    async def scenario():
        app, release = _blocked_app()
        capped = RequestCap(app, limit=1, wait_seconds=0.05, retry_seconds=7)
        holder = asyncio.ensure_future(_call(capped, _scope()))
        await asyncio.sleep(0)
        busy = await _call(capped, _scope(method="POST"), urlencode(FORM).encode())
        release.set()
        return busy, await holder

    (status, headers, page), held = async_to_sync(scenario)()
    assert held[0] == 200
    assert status == 503
    assert headers[b"retry-after"] == b"7" and headers[b"cache-control"] == b"no-store"
    assert headers[b"content-type"].startswith(b"text/html")
    assert 'id="busy-retry"' in page and 'method="post"' in page
    for name, value in FORM[:4]:
        assert f'<input type="hidden" name="{name}" value="{value}">' in page
    # Values are escaped, never markup.
    assert "a &quot;quoted&quot; &lt;b&gt;answer&lt;/b&gt;" in page and "<b>answer" not in page


def test_a_get_that_waited_too_long_gets_a_page_that_reloads_and_json_clients_get_json():
    async def scenario():
        app, release = _blocked_app()
        capped = RequestCap(app, limit=1, wait_seconds=0.05, retry_seconds=5)
        holder = asyncio.ensure_future(_call(capped, _scope()))
        await asyncio.sleep(0)
        page = await _call(capped, _scope())
        as_json = await _call(capped, _scope(path="/console/s/progress.json", accept="*/*"))
        static = await asyncio.wait_for(_call(capped, _scope(path="/static/x.css")), 1)
        release.set()
        await holder
        return page, as_json, static

    page, as_json, static = async_to_sync(scenario)()
    assert page[0] == 503 and 'id="busy-retry-now" href=""' in page[2]
    assert 'http-equiv="refresh"' in page[2] and 'id="busy-retry"' not in page[2]
    assert as_json[0] == 503 and json.loads(as_json[2])["error"] == "busy"
    assert static[0] == 200  # static files never queue: they use no database


def test_no_connection_from_the_pool_or_postgresql_counts_as_overload():
    pooled = OperationalError("couldn't get a connection after 10.00 sec")
    pooled.__cause__ = psycopg_pool.PoolTimeout("couldn't get a connection after 10.00 sec")
    assert is_overload(pooled)
    assert is_overload(OperationalError("FATAL:  sorry, too many clients already"))
    assert not is_overload(OperationalError('relation "x" does not exist'))
    assert not is_overload(ValueError("too many clients"))


def test_a_view_finding_no_connection_answers_busy_with_the_post_kept():
    form = "application/x-www-form-urlencoded"
    request = RequestFactory().post("/a/s/item/", urlencode(FORM), content_type=form)
    middleware = OverloadMiddleware(lambda r: None)
    full = OperationalError("FATAL: sorry, too many clients already")
    response = middleware.process_exception(request, full)
    assert response.status_code == 503 and response["Retry-After"]
    page = response.content.decode()
    assert '<input type="hidden" name="idempotency_key" value="k-1">' in page
    assert middleware.process_exception(request, OperationalError("syntax error")) is None
    # A multipart POST (files) cannot be sent again by the page: it says to go back.
    upload = RequestFactory().post("/console/upload/", dict(FORM))
    page = middleware.process_exception(upload, full).content.decode()
    assert 'id="busy-retry"' not in page and "go back and send it again" in page


def test_a_websocket_finding_no_connection_is_closed_try_again_later():
    async def consumer(scope, receive, send):
        raise OperationalError("remaining connection slots are reserved")

    async def broken(scope, receive, send):
        raise RuntimeError("a bug")

    async def run(app):
        sent = []

        async def receive():
            return {"type": "websocket.connect"}

        async def send(message):
            sent.append(message)

        await CloseWebSocketOnOverload(app)({"type": "websocket", "path": "/ws/"}, receive, send)
        return sent

    assert async_to_sync(run)(consumer) == [{"type": "websocket.close", "code": 1013}]
    with pytest.raises(RuntimeError):
        async_to_sync(run)(broken)


def test_the_busy_pages_script_carries_the_requests_csp_nonce():
    from csp.middleware import CSPMiddleware

    request = RequestFactory().get("/a/s/item/")
    CSPMiddleware(lambda r: None).process_request(request)  # a lazy nonce, made when used
    response = OverloadMiddleware(lambda r: None).process_exception(
        request, OperationalError("FATAL: sorry, too many clients already")
    )
    assert (
        request._csp_nonce and f'<script nonce="{request._csp_nonce}">' in response.content.decode()
    )
