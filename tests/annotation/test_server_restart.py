"""A judgment survives a server restart between request and response, and is stored once.

The real ASGI server (daphne) runs in a subprocess against the test database; it is killed
right after a submit and started again; the annotator's retry of the same submit (same
idempotency key) must not create a second row, and the batch goes on.
"""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from annotation.models import Judgment
from tests.factories import make_study
from tests.live_server import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)


def test_submit_survives_a_server_restart_and_is_stored_once():
    study = make_study(n_batches=1, slots=1)
    server = DaphneServer()
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{server.port}/a/{study.name}"

    def get(path: str) -> str:
        return opener.open(base + path, timeout=20).read().decode()

    def post(path: str, data: dict) -> str:
        token = next(c.value for c in jar if c.name == "csrftoken")
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        request = urllib.request.Request(base + path, data=body, headers={"Referer": base})
        return opener.open(request, timeout=20).read().decode()

    server.start()
    try:
        get("/?PROLIFIC_PID=restart-1")
        post("/consent/", {"consent": "yes"})
        page = post("/instructions/", {})
        assert "1 of 3" in page
        entry = re.search(r'name="entry_id" value="(\d+)"', page).group(1)
        key = re.search(r'name="idempotency_key" value="(\w+)"', page).group(1)
        form = {"entry_id": entry, "idempotency_key": key, "value__empathy": "64"}
        post("/item/", form)
        server.kill()  # the server dies; the browser never saw a confirmation it trusts
        server.start()
        after_restart = post("/item/", form)  # the retry of the same submit
        assert "2 of 3" in after_restart
        assert Judgment.objects.filter(study=study).count() == 1
        assert Judgment.objects.get(study=study).values["empathy"] == 64
    except Exception:
        print(server.output())
        raise
    finally:
        server.kill()
