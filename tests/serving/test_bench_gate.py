"""The serving benchmark's gate (bench/serving_client.py): every annotator waits at their
first item until all have one, so the judgment cycle is measured on its own; one who stops
before any item (no work, an error page) must not keep the others waiting."""

from __future__ import annotations

import asyncio
import random

import httpx

from bench.serving_client import Gate, annotate

ITEM = (
    '<form method="post" action="/a/s/item/"><input type="hidden" name="entry_id" value="1">'
    '<input type="hidden" name="idempotency_key" value="k"><button>Next</button></form>'
)


def _site(events: list[str]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        pid = request.url.params.get("PROLIFIC_PID", "")
        if request.method == "GET" and pid == "nobody":
            return httpx.Response(200, text="<p>No work left.</p>")  # no form: stops
        if request.method == "GET":
            return httpx.Response(200, text=ITEM)
        events.append("submit")
        return httpx.Response(302, headers={"Location": "/a/s/done/"})

    return httpx.MockTransport(answer)


def test_the_gate_opens_when_everyone_has_an_item_or_has_stopped():
    events: list[str] = []

    async def run() -> list:
        gate = Gate(3)
        clients = [
            httpx.AsyncClient(transport=_site(events), base_url="http://t", follow_redirects=True)
            for _ in range(3)
        ]
        pids = ["a", "nobody", "b"]
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(
                    annotate(c, "/a/s/", pid, rng=random.Random(0), gate=gate)
                    for c, pid in zip(clients, pids, strict=True)
                )
            ),
            10,  # a bound on a deadlock, not a timing requirement
        )
        assert gate.opened.is_set() and gate.arrived == 3
        return outcomes

    first, stopped, second = asyncio.run(run())
    assert first.finished and second.finished and not stopped.finished
    assert len(first.submit_seconds) == len(second.submit_seconds) == 1
    assert events == ["submit", "submit"]


def test_no_submit_is_sent_before_the_last_annotator_arrives():
    events: list[str] = []

    async def run() -> None:
        gate = Gate(2)
        early = httpx.AsyncClient(
            transport=_site(events), base_url="http://t", follow_redirects=True
        )
        task = asyncio.create_task(annotate(early, "/a/s/", "a", rng=random.Random(0), gate=gate))
        await asyncio.sleep(0.2)
        assert events == [] and not gate.opened.is_set()  # waiting at its first item
        late = httpx.AsyncClient(
            transport=_site(events), base_url="http://t", follow_redirects=True
        )
        await asyncio.wait_for(
            asyncio.gather(task, annotate(late, "/a/s/", "b", rng=random.Random(1), gate=gate)), 10
        )

    asyncio.run(run())
    assert events == ["submit", "submit"]
