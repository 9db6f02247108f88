"""No database connection to give: the busy page (503), not a 500, and its retry saves once.

The production server runs with a pool of one connection and a short pool timeout; a test
view holds that connection (pg_sleep) while an annotator submits a judgment. The submit gets
the busy page, which carries the submitted form (CSRF token and idempotency key included);
sent again as the page sends it, twice (its own retry and an impatient click), it stores
the judgment once, with the values the annotator gave.
"""

from __future__ import annotations

import random
import re
import threading
import time
from urllib.parse import urljoin

import httpx
import pytest
from django.db import connection

from annotation.models import Judgment
from bench.serving_client import post_form
from tests.factories import make_study
from tests.live_server import ProductionServer

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TINY_POOL = {
    "EVALSITE_DB_POOL_MIN": "1",
    "EVALSITE_DB_POOL_MAX": "1",
    "EVALSITE_DB_POOL_TIMEOUT": "0.5",
    # More requests may run than the pool has connections: the second one waits on the pool.
    "EVALSITE_MAX_CONCURRENT_REQUESTS": "4",
    "EVALSITE_BUSY_RETRY_SECONDS": "3",
}


def _send(client: httpx.Client, page: httpx.Response, data: dict) -> httpx.Response:
    form = post_form(page.text)
    url = urljoin(str(page.url), form.action if form else "")
    return client.post(url, data=data, headers={"Referer": url})


def _wait_until_held(deadline_s: float = 20) -> None:
    """Until the server's only connection sits in pg_sleep (a bound on a hang)."""
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                " AND query LIKE 'SELECT pg_sleep(%%' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.1)
    raise AssertionError("the hold request never got its connection")


def test_an_exhausted_pool_shows_the_busy_page_and_its_retry_stores_the_judgment_once():
    study = make_study(n_batches=1, slots=1, batch_length=3)
    server = ProductionServer(
        workers=1, env=TINY_POOL, settings_module="tests.serving.server_settings"
    )
    with server, httpx.Client(base_url=server.url, follow_redirects=True, timeout=30) as client:
        page = client.get(f"/a/{study.name}/", params={"PROLIFIC_PID": "busy-1"})
        while "idempotency_key" not in page.text:  # consent, instructions: go on
            assert page.status_code == 200, page.text[:500]
            page = _send(client, page, post_form(page.text).fill(random.Random(0)))
        answers = post_form(page.text).fill(random.Random(1))

        holder = threading.Thread(
            target=lambda: httpx.get(f"{server.url}/test/hold/?seconds=4&db=1", timeout=30)
        )
        holder.start()
        try:
            _wait_until_held()
            reload = client.get(str(page.url))
            busy = _send(client, page, answers)
        finally:
            holder.join(timeout=30)

        assert reload.status_code == 503 and 'id="busy-retry-now" href=""' in reload.text
        assert busy.status_code == 503, busy.text[:500]
        assert busy.headers["Retry-After"] == "3"
        assert "try again" in busy.text.lower()
        # Its retry script runs under the site's Content-Security-Policy (when one is set).
        policy = busy.headers.get("Content-Security-Policy", "")
        if "script-src" in policy:
            nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
            assert f'<script nonce="{nonce}">' in busy.text
        assert Judgment.objects.filter(study=study).count() == 0
        replay = post_form(busy.text).fill(random.Random(2))  # hidden fields only: as sent
        assert replay == answers  # the CSRF token and the idempotency key among them

        again = _send(client, busy, replay)  # the page's own retry, once the pool is free
        twice = _send(client, busy, replay)  # and an impatient click on "Try again now"
    assert again.status_code < 400 and twice.status_code < 500, (again.text[:300], twice.text[:300])
    judgments = Judgment.objects.filter(study=study)
    assert judgments.count() == 1
    stored = judgments.get().values
    assert stored["empathy"] == int(answers["value__empathy"][0])
    assert stored["fluent"] is ("value__fluent" in answers)
