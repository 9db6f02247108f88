"""HTTP on the production server runs Django's WSGI handler on a fixed pool of threads
(evalsite/asgi.py, evalsite/wsgi_bridge.py): no thread per request, as many threads as the
request cap admits, every request body arriving whole however it is sent, and a streaming
response (the judgments CSV) still sent part by part, not buffered."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from evalsite.wsgi_bridge import READ_AHEAD_BYTES
from tests.live_server import ProductionServer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CAP = 3


def test_requests_share_a_fixed_pool_of_threads_no_larger_than_the_cap():
    with ProductionServer(
        workers=1,
        settings_module="tests.serving.server_settings",
        env={"EVALSITE_MAX_CONCURRENT_REQUESTS": str(CAP)},
    ) as server:
        names: dict[int, set[str]] = defaultdict(set)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(40):
                seen = client.get("/test/thread/").json()
                names[seen["pid"]].add(seen["thread"])
    (threads,) = names.values()
    assert all(name.startswith("WSGI") for name in threads), threads
    assert 1 <= len(threads) <= CAP  # 40 requests, a few reused threads


def test_a_streaming_response_is_sent_as_it_is_produced():
    signal = Path(tempfile.mkdtemp()) / "read-the-first-part"
    with ProductionServer(workers=1, settings_module="tests.serving.server_settings") as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            with client.stream("GET", "/test/stream/", params={"signal": str(signal)}) as response:
                lines = response.iter_lines()
                assert next(lines) == "first"
                signal.touch()  # only now may the view produce the rest
                assert list(lines) == ["second"]
            assert "content-length" not in response.headers


def test_request_bodies_arrive_whole_read_ahead_or_streamed():
    # (A chunked body without Content-Length is not read at all by Django's WSGI handler.)
    small = os.urandom(1000)
    large = os.urandom(3 * READ_AHEAD_BYTES + 17)  # streamed into the thread part by part

    with ProductionServer(workers=1, settings_module="tests.serving.server_settings") as server:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for body in (b"", small, large):
                expected = body
                got = client.post(
                    "/test/echo/", content=body, headers={"Content-Type": "text/plain"}
                )
                assert got.status_code == 200, got.text
                assert got.json() == {
                    "length": len(expected),
                    "sha256": hashlib.sha256(expected).hexdigest(),
                }
            page = client.get("/test/thread/")  # and an ordinary response after them
            assert page.status_code == 200 and "content-length" in page.headers
