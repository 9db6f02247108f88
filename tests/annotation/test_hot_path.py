"""The judgment cycle's fast path: a submit answered with the next item's page, the item page
from a per-study frame and a per-item dialogue, the hand-written reads, throttled progress
events.

What must not change: the same judgments are stored, a reload shows the item the server
expects, the last submit still ends on the done page, and nothing of one annotator's page
(CSRF token, CSP nonce, idempotency key) reaches another's.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from annotation import hot_path, progress_events
from annotation.assignment import request_work
from annotation.models import Judgment
from annotation.services import get_or_create_participant
from annotation.views import item_page
from tests.factories import make_study

pytestmark = pytest.mark.django_db

NONCE = re.compile(r'<script nonce="([^"]+)"')
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _fresh_caches():
    hot_path.clear()
    item_page.clear()
    yield
    hot_path.clear()
    item_page.clear()


def _field(html: str, name: str) -> str:
    return re.search(rf'name="{name}" value="([^"]*)"', html).group(1)


def _start(client: Client, study, pid: str) -> str:
    client.get(f"/a/{study.name}/?PROLIFIC_PID={pid}&STUDY_ID=s&SESSION_ID=x")
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    client.post(f"/a/{study.name}/instructions/")
    return client.get(f"/a/{study.name}/item/").content.decode()


def _answer(html: str, value: int = 60, *, next_in_response: bool = True) -> dict:
    post = {
        "entry_id": _field(html, "entry_id"),
        "idempotency_key": _field(html, "idempotency_key"),
        "time_on_item_ms": "4000",
        "value__empathy": str(value),
    }
    if next_in_response:
        post["next_in_response"] = "1"
    token = TOKEN.search(html)
    if token:
        post["csrfmiddlewaretoken"] = token.group(1)
    return post


def test_a_submit_is_answered_with_the_next_item_and_a_reload_shows_the_same_one():
    study = make_study(n_batches=1, slots=1, batch_length=3)
    client = Client()
    first = _start(client, study, "swap")
    client.handler.enforce_csrf_checks = True  # from here on, as a browser's requests are
    response = client.post(f"/a/{study.name}/item/", _answer(first))
    assert response.status_code == 200
    second = response.content.decode()
    assert _field(second, "entry_id") != _field(first, "entry_id")
    assert _field(second, "idempotency_key") != _field(first, "idempotency_key")
    # the page's script nonce is the one the CSP header allows
    nonce = NONCE.search(second).group(1)
    assert f"'nonce-{nonce}'" in response.headers["Content-Security-Policy"]
    # the CSRF cookie was set once, not again with every item page
    assert "csrftoken" not in response.cookies
    # a reload is a GET of the item URL and shows the same item
    reload = client.get(f"/a/{study.name}/item/").content.decode()
    assert _field(reload, "entry_id") == _field(second, "entry_id")
    # the answered page's CSRF token is accepted: the next submit stores
    with CaptureQueriesContext(connection) as queries:
        third = client.post(f"/a/{study.name}/item/", _answer(second, 61)).content.decode()
    # participant, lock, next entries, insert (transaction statements aside; the first
    # submit also lengthens the short first lease): the next page costs no statement
    statements = [
        q["sql"]
        for q in queries
        if not q["sql"].upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE"))
    ]
    expected = 2 if connection.vendor == "postgresql" else 4
    assert len(statements) == expected, "\n".join(s[:150] for s in statements)
    assert _field(third, "entry_id") not in {_field(first, "entry_id"), _field(second, "entry_id")}
    with CaptureQueriesContext(connection) as queries:
        done = client.post(f"/a/{study.name}/item/", _answer(third, 62))
    # the last one is answered with the done page itself, which gives its own address
    assert done.status_code == 200 and "DONE-123" in done.content.decode()
    assert f'data-page-url="/a/{study.name}/done/"' in done.content.decode()
    assert not any(
        "annotation_assignment" in q["sql"]
        and "completed" in q["sql"]
        and q["sql"].startswith("SELECT 1")
        for q in queries
    )  # no "has completed?"
    assert client.get(f"/a/{study.name}/item/").url.endswith("/done/")  # a reload: done
    assert sorted(Judgment.objects.values_list("values__empathy", flat=True)) == [60, 61, 62]


def test_without_the_script_a_submit_is_answered_by_a_redirect():
    study = make_study(n_batches=1, slots=1, batch_length=2)
    client = Client()
    first = _start(client, study, "plain")
    response = client.post(f"/a/{study.name}/item/", _answer(first, next_in_response=False))
    assert response.status_code == 302 and response.url.endswith("/item/")
    assert Judgment.objects.count() == 1


def test_a_retried_submit_after_the_swap_is_stored_once():
    study = make_study(n_batches=1, slots=1, batch_length=3)
    client = Client()
    first = _start(client, study, "retry")
    post = _answer(first)
    assert client.post(f"/a/{study.name}/item/", post).status_code == 200
    again = client.post(f"/a/{study.name}/item/", post)  # the network retried the same form
    assert again.status_code in (200, 302)
    assert Judgment.objects.count() == 1


def test_two_annotators_get_the_same_page_of_an_entry_but_for_their_own_values():
    study = make_study(n_batches=1, slots=2, batch_length=2)
    one, two = Client(), Client()
    page_one = _start(one, study, "first")
    page_two = _start(two, study, "second")
    assert _field(page_one, "entry_id") == _field(page_two, "entry_id")
    own = [
        (_field(page, "idempotency_key"), TOKEN.search(page).group(1), NONCE.search(page).group(1))
        for page in (page_one, page_two)
    ]
    for a, b in zip(*own, strict=True):
        assert a != b  # key, CSRF token and nonce are each annotator's own

    def blank(page: str, values: tuple[str, ...]) -> str:
        for value in values:
            page = page.replace(value, "VALUE")
        return page

    assert blank(page_one, own[0]) == blank(page_two, own[1])


@pytest.mark.parametrize("protocol", ["rating", "pairwise"])
def test_the_cached_item_page_is_item_html_rendered_whole_for_every_entry(rf, protocol):
    # The same outputs in every batch, in other orders: an item at several positions, pages
    # of every position (the last one's "Finish"), with the safety forms (the entry id twice).
    study = make_study(n_batches=3, slots=1, batch_length=3, protocol=protocol, shared_outputs=True)
    study.spec["annotator_safety"] = {"skip_distressing": True}
    study.save(update_fields=["spec"])
    from django.shortcuts import render

    from annotation.views import presentation
    from annotation.views.forms import JudgmentForm

    token = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    rows = JudgmentForm(study.dimensions).rows()
    seen = set()
    for batch in study.batches.all():
        for entry in hot_path.shown_entries(study, batch.id).values():
            request = rf.get("/")
            request.csp_nonce = "nonce-of-this-request"
            cached = item_page.fresh_item_page(request, study, entry, lambda: rows).content.decode()
            key = _field(cached, "idempotency_key")
            context = {
                "study": study,
                "spec": study.spec,
                "wording": presentation.wording(study.spec),
                **presentation.item_context(
                    study, entry, entry.batch_length, rows, idempotency_key=key
                ),
            }
            whole = render(request, "annotation/item.html", context).content.decode()
            assert token.sub("TOKEN", cached) == token.sub("TOKEN", whole)
            assert cached.count(f'value="{entry.id}"') == 2  # the judgment and the skip form
            seen.add((entry.item_id, entry.position))
    assert len({item for item, _ in seen}) == 3 and len(seen) > 3  # items at several places


def test_the_hand_written_reads_return_ordinary_instances():
    study = make_study(n_batches=1, slots=1, batch_length=2)
    participant = get_or_create_participant(study, "reader", "cookie")
    request_work(participant)
    found = hot_path.participant_with_study(study.name, "reader")
    assert found is not None and found.pk == participant.pk
    assert isinstance(found.created_at, datetime) and found.created_at.tzinfo is not None
    assert found.study.pk == study.pk and isinstance(found.study.spec, dict)
    assert hot_path.participant_with_study(study.name, "nobody") is None
    live = hot_path.locked_live_assignment(found)
    assert live is not None and isinstance(live.slot.lease_expires_at, datetime)
    entries = hot_path.next_entries(live, 5, study=found.study)
    assert [e.position for e in entries] == sorted(e.position for e in entries)
    assert entries[0].batch_length == 2 and entries[0].item.context.turns


def test_an_annotator_page_resolves_before_the_admin_console_and_api_patterns():
    from django.urls import resolve

    # Django notes every pattern it tried before the match: the admin's 161 alone were most
    # of the request handling of an annotator's page.
    for page in ("", "consent/", "instructions/", "item/", "done/"):
        match = resolve(f"/a/some-study/{page}")
        assert match.app_name == "annotation"
        assert len(match.tried) <= 12, [str(t) for t in match.tried]


def test_the_spec_is_read_once_per_process_and_again_when_it_changes():
    study = make_study(n_batches=1, slots=1, batch_length=2)
    study.spec_hash = "a" * 64
    study.save(update_fields=["spec_hash"])
    get_or_create_participant(study, "reader", "cookie")
    with CaptureQueriesContext(connection) as first:
        one = hot_path.participant_with_study(study.name, "reader")
    with CaptureQueriesContext(connection) as second:
        two = hot_path.participant_with_study(study.name, "reader")
    assert len(first) == len(second) == 1  # one statement, with or without the spec
    # The second names the spec it holds, so the database leaves the spec column empty.
    held = study.spec_hash
    assert held not in first.captured_queries[0]["sql"]
    assert held in second.captured_queries[0]["sql"]
    assert one.study.spec == study.spec and two.study.spec is one.study.spec  # not re-parsed
    # The spec as written and the design report never travel with an annotator's request;
    # they are still there when asked for (one query).
    assert {"spec_source", "design_report"} <= two.study.get_deferred_fields()
    with CaptureQueriesContext(connection) as deferred:
        assert two.study.spec_source == study.spec_source
    assert len(deferred) == 1
    # A draft designed again has a new spec and hash: the next request reads it.
    changed = {**study.spec, "title": "A new title"}
    type(study).objects.filter(pk=study.pk).update(spec=changed, spec_hash="f" * 64)
    three = hot_path.participant_with_study(study.name, "reader")
    assert three.study.spec["title"] == "A new title" and three.study.spec_hash == "f" * 64
    # A cache emptied meanwhile (another thread's clear()): read again, not a NULL spec.
    hot_path._specs.clear()
    four = hot_path.participant_with_study(study.name, "reader")
    assert four.study.spec == changed


def test_progress_events_are_throttled_and_the_last_change_arrives(monkeypatch):
    sent: list[float] = []
    arrived = threading.Event()

    def publish(name: str) -> None:
        sent.append(time.monotonic())
        if len(sent) == 2:
            arrived.set()

    monkeypatch.setattr(progress_events, "publish", publish)
    monkeypatch.setattr(progress_events, "MIN_INTERVAL", 0.2)
    name = f"throttled-{time.monotonic_ns()}"
    for _ in range(50):
        progress_events.progress_changed(name)
    assert len(sent) == 1  # the first change at once, the other 49 wait
    assert arrived.wait(5)  # ... and are published once, at the end of the interval
    time.sleep(0.3)
    assert len(sent) == 2
    assert sent[1] - sent[0] >= 0.19
