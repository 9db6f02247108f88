"""A Prolific launch on the production server: 300 participants arrive at the same moment.

The production command (uvicorn, two worker processes, the pool and the request cap of
evalsite/settings.py) serves the PostgreSQL test database; 300 clients, each with its own
PROLIFIC_PID and cookies, open the study link at once and consent. Before the pool and the
cap, 220 such arrivals got 243 HTTP 500s ("too many clients"); now none may get a 5xx, not
even the busy page: at this size the cap queues them (EVALSITE_REQUEST_QUEUE_SECONDS) rather
than turning anyone away. The throughput figures are bench/serving.py's, not this test's.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx
import pytest

from annotation.models import Participant
from bench.serving_client import annotate
from tests.factories import make_study
from tests.live_server import ProductionServer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ARRIVALS = 300


async def _arrive_together(base: str, study: str) -> list:
    clients = [
        httpx.AsyncClient(base_url=base, follow_redirects=True, timeout=90) for _ in range(ARRIVALS)
    ]
    try:
        return await asyncio.gather(
            *(
                annotate(
                    c, f"/a/{study}/", f"launch-{i}", rng=random.Random(i), stop_after_consent=True
                )
                for i, c in enumerate(clients)
            )
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))


def test_300_simultaneous_arrivals_get_no_5xx_and_all_reach_the_instructions():
    study = make_study(n_batches=100, slots=3, batch_length=1)  # a batch for everyone
    # The queue wait (30 s by default) is raised so that a loaded CI machine does not turn
    # a slow queue into busy pages: the burst must queue, and the pool must not run dry.
    with ProductionServer(workers=2, env={"EVALSITE_REQUEST_QUEUE_SECONDS": "120"}) as server:
        # A bound on a hang, not a timing requirement.
        outcomes = asyncio.run(asyncio.wait_for(_arrive_together(server.url, study.name), 240))
        log = server.output(kill=False)
    statuses = Counter(s for o in outcomes for s in o.statuses)
    assert not [o.error for o in outcomes if o.error], log
    assert {s: n for s, n in statuses.items() if s >= 500} == {}, (statuses, log)
    assert all(o.finished and o.ended_on.endswith("/instructions/") for o in outcomes), Counter(
        o.ended_on for o in outcomes
    )
    assert Participant.objects.filter(study=study).count() == ARRIVALS
