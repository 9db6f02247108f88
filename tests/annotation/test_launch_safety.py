"""A crowd launch cannot hurt a study: the annotator's hot path in few queries, nobody
registered or leased by opening a link, rate limits on the public link, short first
leases, refused submits that say what happened, and a client clock that is not believed.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotation.assignment import request_work
from annotation.models import Assignment, BatchSlot, Judgment, Participant
from annotation.services import get_or_create_participant
from tests.factories import make_study

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()  # the rate limits count in the default cache
    yield
    cache.clear()


def _form(html: str) -> dict:
    entry = re.search(r'name="entry_id" value="(\d+)"', html).group(1)
    key = re.search(r'name="idempotency_key" value="(\w+)"', html).group(1)
    return {"entry_id": entry, "idempotency_key": key}


def _to_first_item(client: Client, study, pid: str = "p1"):
    client.get(f"/a/{study.name}/?PROLIFIC_PID={pid}&STUDY_ID=s&SESSION_ID=x")
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    client.post(f"/a/{study.name}/instructions/")
    return client.get(f"/a/{study.name}/item/")


def _statements(ctx: CaptureQueriesContext) -> int:
    """SQL statements a request ran (savepoints are test-transaction artefacts)."""
    return sum(
        1
        for q in ctx.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
    )


# --------------------------------------------------------------------------- the hot path


@pytest.mark.parametrize("protocol", ["rating", "pairwise"])
def test_a_submit_takes_at_most_six_statements_and_the_next_item_three(protocol):
    """Issue targets: submit ≤ 6, next item ≤ 5. On PostgreSQL a submit is two: the
    participant with study, and one query string that locks the lease, inserts and writes
    the lease rows when due (annotation/hot_submit.py). Elsewhere (SQLite): participant,
    the locked lease, the next entries, the insert (+ two lease rows on the first judgment,
    when less than half the lease is left, or when the batch completes)."""
    study = make_study(n_batches=1, slots=1, batch_length=4, protocol=protocol)
    client = Client()
    page = _to_first_item(client, study).content.decode()
    value = {"value__empathy": "50"} if protocol == "rating" else {"value__overall": "a"}
    counts = []
    for position in range(4):
        with CaptureQueriesContext(connection) as submit:
            response = client.post(f"/a/{study.name}/item/", {**_form(page), **value})
        assert response.status_code == 302
        with CaptureQueriesContext(connection) as next_page:
            page = client.get(response["Location"], follow=True).content.decode()
        counts.append((_statements(submit), _statements(next_page)))
        if position < 3:
            assert f"{position + 2} of 4" in page
    # first: lease extended to its full length; middle: the judgment alone; last: completion
    expected = [2, 2, 2, 2] if connection.vendor == "postgresql" else [6, 4, 4, 6]
    assert [c[0] for c in counts] == expected
    assert all(c[1] == 3 for c in counts[:3])
    assert Judgment.objects.count() == 4


# ------------------------------------------------------------------- arrivals and hoarding


def test_opening_the_link_registers_nobody_and_leases_nothing():
    study = make_study(n_batches=2, slots=2)
    for i in range(100):
        assert Client().get(f"/a/{study.name}/").status_code == 302
        Client().get(f"/a/{study.name}/?PROLIFIC_PID=crowd-{i}&STUDY_ID=s&SESSION_ID=x")
    assert Participant.objects.count() == 0
    assert not BatchSlot.objects.exclude(state=BatchSlot.State.FREE).exists()


def test_a_visitor_keeps_their_platform_ids_and_warning_until_consent():
    study = make_study(content_warning="Some replies are rude.")
    client = Client()
    client.get(f"/a/{study.name}/?PROLIFIC_PID=pp&STUDY_ID=st&SESSION_ID=se")
    client.post(f"/a/{study.name}/warning/", {"continue": "yes"})
    assert not Participant.objects.exists()
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    p = Participant.objects.get()
    assert (p.external_id, p.platform_study_id, p.platform_session_id) == ("pp", "st", "se")
    assert p.warning_acknowledged_at is not None and p.consented_at is not None
    assert p.warning_acknowledged_at <= p.consented_at


def test_the_cookie_carries_no_sequential_id():
    study = make_study()
    client = Client()
    _to_first_item(client, study, "someone")
    participant = Participant.objects.get()
    (cookie,) = [c for name, c in client.cookies.items() if name.startswith("evalsite_v_")]
    assert f'"{participant.pk}"' not in cookie.value and "someone" in cookie.value
    # signed: an edited cookie names nobody
    client.cookies[cookie.key] = cookie.value.replace("someone", "someone-else")
    assert client.get(f"/a/{study.name}/item/")["Location"].endswith(f"/a/{study.name}/")


def test_hoarding_slots_from_one_address_is_limited(settings, monkeypatch):
    settings.EVALSITE_REGISTRATION_RATE_PER_IP = "5/m"
    # One window of the limiter's clock: its windows are fixed, so a run that crossed a
    # window's end would rightly let 5 more through.
    import django_ratelimit.core

    now = time.time()
    monkeypatch.setattr(django_ratelimit.core, "time", SimpleNamespace(time=lambda: now))
    study = make_study(n_batches=8, slots=2)  # 16 slots
    statuses = []
    for _ in range(80):
        bot = Client()
        bot.get(f"/a/{study.name}/")
        statuses.append(bot.post(f"/a/{study.name}/consent/", {"consent": "yes"}).status_code)
        bot.post(f"/a/{study.name}/instructions/")
        bot.get(f"/a/{study.name}/item/")
    assert statuses.count(302) == 5 and statuses.count(429) == 75
    assert Participant.objects.count() == 5
    assert BatchSlot.objects.filter(state=BatchSlot.State.LEASED).count() == 5
    # another address is not affected
    page = _to_first_item(Client(REMOTE_ADDR="10.0.0.2"), study, "real-annotator")
    assert page.status_code == 200 and "1 of 3" in page.content.decode()


def test_the_link_is_limited_per_address_and_per_identity(settings):
    settings.EVALSITE_ENTRY_RATE_PER_IP = "10/m"
    settings.EVALSITE_ENTRY_RATE_PER_IDENTITY = "3/m"
    study = make_study()
    same = [
        Client(REMOTE_ADDR=f"10.1.0.{i}").get(f"/a/{study.name}/?PROLIFIC_PID=one").status_code
        for i in range(5)
    ]
    assert same == [302, 302, 302, 429, 429]
    many = [Client().get(f"/a/{study.name}/").status_code for _ in range(12)]
    assert many == [302] * 10 + [429] * 2
    refused = Client().get(f"/a/{study.name}/")
    assert refused["Retry-After"] == "60" and 'id="rate-limited"' in refused.content.decode()


def test_a_first_lease_is_short_and_the_first_judgment_gives_the_full_length(settings):
    settings.EVALSITE_FIRST_LEASE_MINUTES = 10
    study = make_study(n_batches=1, slots=1, lease_minutes=60)
    client = Client()
    page = _to_first_item(client, study).content.decode()
    assignment = Assignment.objects.get()
    assert assignment.lease_expires_at - assignment.started_at == timedelta(minutes=10)
    client.post(f"/a/{study.name}/item/", {**_form(page), "value__empathy": "1"})
    assignment.refresh_from_db()
    left = assignment.lease_expires_at - timezone.now()
    assert timedelta(minutes=59) < left <= timedelta(minutes=60)
    slot = BatchSlot.objects.get()
    assert slot.lease_expires_at == assignment.lease_expires_at


@pytest.mark.parametrize("name", ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID"])
def test_a_platform_id_too_long_is_refused_not_cut(name):
    study = make_study()
    params = {"PROLIFIC_PID": "p", "STUDY_ID": "s", "SESSION_ID": "x", name: "x" * 250}
    client = Client()
    response = client.get(f"/a/{study.name}/", params)
    assert response.status_code == 400
    assert f"its {name} is 250 characters long" in response.content.decode()
    assert Participant.objects.count() == 0


# ----------------------------------------------------------------------- refused submits


def test_a_second_tab_is_told_the_item_was_already_saved():
    study = make_study(n_batches=1, slots=1)
    tab_one = Client()
    page = _to_first_item(tab_one, study).content.decode()
    tab_two = Client()
    tab_two.cookies = tab_one.cookies
    second_page = tab_two.get(f"/a/{study.name}/item/").content.decode()
    tab_one.post(f"/a/{study.name}/item/", {**_form(page), "value__empathy": "10"})
    refused = tab_two.post(f"/a/{study.name}/item/", {**_form(second_page), "value__empathy": "90"})
    assert refused.status_code == 409
    body = refused.content.decode()
    assert "already saved" in body and "2 of 3" in body
    assert list(Judgment.objects.values_list("values", flat=True)) == [
        {"empathy": 10, "fluent": False}
    ]


def test_a_forged_item_is_refused_with_a_message():
    study = make_study(n_batches=1, slots=1)
    client = Client()
    form = _form(_to_first_item(client, study).content.decode())
    refused = client.post(
        f"/a/{study.name}/item/", {**form, "entry_id": "999999", "value__empathy": "10"}
    )
    assert refused.status_code == 409
    assert "out of date, so nothing was saved" in refused.content.decode()
    assert Judgment.objects.count() == 0


def test_a_replayed_key_with_other_answers_is_a_conflict_and_keeps_the_first():
    study = make_study(n_batches=1, slots=1)
    client = Client()
    form = _form(_to_first_item(client, study).content.decode())
    assert (
        client.post(f"/a/{study.name}/item/", {**form, "value__empathy": "10"}).status_code == 302
    )
    same = client.post(f"/a/{study.name}/item/", {**form, "value__empathy": "10"})
    assert same.status_code == 302  # a plain retry is answered with what was stored
    other = client.post(f"/a/{study.name}/item/", {**form, "value__empathy": "99"})
    assert other.status_code == 409
    assert "the answers saved first are kept" in other.content.decode()
    assert list(Judgment.objects.values_list("values", flat=True)) == [
        {"empathy": 10, "fluent": False}
    ]


def test_a_submit_after_the_slot_was_given_away_says_so():
    study = make_study(n_batches=2, slots=1, lease_minutes=30)
    late = Client()
    form = _form(_to_first_item(late, study, "late").content.decode())
    slow = Participant.objects.get(external_id="late")
    first_slot = Assignment.objects.get(participant=slow).slot_id
    # the lease runs out and someone else gets the slot
    Assignment.objects.filter(participant=slow).update(
        lease_expires_at=timezone.now() - timedelta(minutes=1)
    )
    BatchSlot.objects.filter(id=first_slot).update(
        lease_expires_at=timezone.now() - timedelta(minutes=1)
    )
    other = get_or_create_participant(study, "other", "prolific")
    assert request_work(other).assignment.slot_id == first_slot
    refused = late.post(f"/a/{study.name}/item/", {**form, "value__empathy": "10"})
    assert refused.status_code == 409
    body = refused.content.decode()
    assert "given to someone else" in body and "You have a new batch now" in body
    assert "1 of 3" in body
    assert Judgment.objects.count() == 0
    assert Assignment.objects.get(participant=slow, status="active").slot_id != first_slot


# ------------------------------------------------------------------------ client clocks


@pytest.mark.parametrize(
    "sent,kept",
    [
        ("0001-01-01T00:00:00+14:00", False),
        ("9999-12-31T23:59:59-14:00", False),
        ("2026-01-01T00:00:00", False),  # no time zone
        ("not a time", False),
        ("now", True),
    ],
)
def test_a_client_time_is_stored_only_near_the_server_time(sent, kept):
    study = make_study(n_batches=1, slots=1)
    client = Client()
    form = _form(_to_first_item(client, study).content.decode())
    if sent == "now":
        sent = timezone.now().isoformat()
    response = client.post(
        f"/a/{study.name}/item/",
        {**form, "value__empathy": "10", "client_submitted_at": sent},
    )
    assert response.status_code == 302
    judgment = Judgment.objects.get()
    assert (judgment.client_submitted_at is not None) is kept
    # a refused time is kept as sent, apart, and flagged in the export
    from annotation.export import judgment_rows

    (row,) = [r for r in judgment_rows(study) if r["dimension"] == "empathy"]
    assert judgment.client_time_refused == ("" if kept else sent)
    assert row["client_submitted_at_unreadable"] == ("" if kept else sent)
    assert bool(row["client_submitted_at"]) is kept


# --------------------------------------------------------------- characters nobody stores


@pytest.mark.parametrize("field", ["PROLIFIC_PID", "STUDY_ID", "SESSION_ID", "invite"])
@pytest.mark.parametrize("bad", ["%00", "%ED%A0%80", "%FF"])  # NUL, a lone surrogate, not UTF-8
def test_an_unstorable_character_in_a_link_parameter_is_a_located_400(field, bad):
    study = make_study()
    params = {"PROLIFIC_PID": "p", "STUDY_ID": "s", "SESSION_ID": "x", field: f"a{bad}b"}
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = Client().get(f"/a/{study.name}/?{query}")
    assert response.status_code == 400
    what = "a NUL character" if bad == "%00" else "bytes that are not UTF-8 text"
    assert f"The URL parameter “{field}” contains {what}" in response.content.decode()
    assert Participant.objects.count() == 0


@pytest.mark.parametrize(
    "field",
    [
        "value__empathy",
        "rationale__overall",
        "idempotency_key",
        "entry_id",
        "client_submitted_at",
        "time_on_item_ms",
    ],
)
def test_a_nul_in_any_field_of_a_submit_is_a_located_400_and_stores_nothing(field):
    study = make_study(n_batches=1, slots=1, protocol="pairwise")
    client = Client()
    form = _form(_to_first_item(client, study).content.decode())
    data = {**form, "value__overall": "a", "rationale__overall": "clear", field: "x\x00y"}
    response = client.post(f"/a/{study.name}/item/", data)
    assert response.status_code == 400
    assert f"The form field “{field}” contains a NUL character" in response.content.decode()
    assert Judgment.objects.count() == 0
    # and the annotator can go on
    assert client.post(f"/a/{study.name}/item/", {**form, "value__overall": "a"}).status_code == 302


def test_a_nul_in_the_user_agent_is_not_stored():
    study = make_study()
    client = Client(HTTP_USER_AGENT="Mozilla\x00/5.0")
    _to_first_item(client, study)
    assert Participant.objects.get().user_agent == "Mozilla/5.0"


def test_a_rationale_too_long_is_refused_with_the_limit_not_cut():
    study = make_study(n_batches=1, slots=1, protocol="pairwise")
    client = Client()
    page = _to_first_item(client, study).content.decode()
    assert 'maxlength="5000"' in page
    data = {**_form(page), "value__overall": "a", "rationale__overall": "w" * 5001}
    response = client.post(f"/a/{study.name}/item/", data)
    assert response.status_code == 400
    assert "the rationale is 5,001 characters long; at most 5,000 are kept" in (
        response.content.decode()
    )
    assert Judgment.objects.count() == 0


# ------------------------------------------------------------------- what is displayed


def test_dialogue_text_is_shown_bidi_isolated_without_hidden_controls():
    from annotation.models import Item
    from generation.models import Candidate, Context

    study = make_study(n_batches=1, slots=1)
    items = Item.objects.filter(study=study)
    # a right-to-left override would show "evil" text reversed; a zero-width space hides
    Context.objects.filter(id__in=items.values("context_id")).update(
        turns=[{"speaker": "Speaker", "text": "pay \u202eyap\u202c now\u200b!"}]
    )
    Candidate.objects.filter(id__in=items.values("candidate_id")).update(
        text="fine\u2066 reply\u2069 \U0001f469\u200d\U0001f4bb"
    )
    page = _to_first_item(Client(), study).content.decode()
    assert "\u202e" not in page and "\u200b" not in page and "\u2066" not in page
    assert '<bdi class="text">pay yap now!</bdi>' in page
    assert '<bdi class="text">fine reply \U0001f469\u200d\U0001f4bb</bdi>' in page  # ZWJ kept


def test_pages_carry_a_content_security_policy_with_a_nonce_on_their_scripts():
    study = make_study(n_batches=1, slots=1)
    client = Client()
    page = _to_first_item(client, study)
    policy = page["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "script-src 'self' 'nonce-" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    scripts = re.findall(r"<script([^>]*)>", page.content.decode())
    assert scripts and all(f'nonce="{nonce}"' in s for s in scripts)


def test_annotator_links_come_from_the_site_url_not_the_host_header(admin_client, settings):
    settings.EVALSITE_SITE_URL = "https://eval.example.org"
    study = make_study()
    page = admin_client.get("/console/", HTTP_HOST="attacker.example").content.decode()
    assert f"https://eval.example.org/a/{study.name}/" in page and "attacker.example" not in page
    detail = admin_client.get(f"/console/{study.name}/", HTTP_HOST="attacker.example")
    assert "attacker.example" not in detail.content.decode()
