"""HTTP on the production server runs Django's WSGI handler on a fixed pool of threads
(evalsite/asgi.py): no thread per request, as many threads as the request cap admits, and a
streaming response (the judgments CSV) still sent part by part, not buffered."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

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
