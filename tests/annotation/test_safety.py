"""Annotator safety: skipping a distressing item (recorded, not judged, reassigned so every
output still gets k), pausing with the place kept, the break reminder and the daily cap."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from annotation import safety
from annotation.assignment import _batches_excluded_for, request_work
from annotation.models import (
    Assignment,
    BatchSlot,
    ItemSkip,
    Judgment,
    Participant,
    SafetyEvent,
    Study,
)
from annotation.quality_control import decision_for
from annotation.services import get_or_create_participant, record_judgment
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def _with_safety(study: Study, **given) -> Study:
    spec = dict(study.spec)
    spec["annotator_safety"] = {"skip_distressing": True, **given}
    Study.objects.filter(pk=study.pk).update(spec=spec)
    study.refresh_from_db()
    return study


def _entry(html: str) -> str:
    return re.search(r'name="entry_id" value="(\d+)"', html).group(1)


def _key(html: str) -> str:
    return re.search(r'name="idempotency_key" value="(\w+)"', html).group(1)


def _start(client: Client, study: Study, pid: str) -> str:
    client.get(f"/a/{study.name}/?PROLIFIC_PID={pid}&STUDY_ID=s&SESSION_ID=x")
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    client.post(f"/a/{study.name}/instructions/")
    return client.get(f"/a/{study.name}/item/").content.decode()


def test_a_skipped_item_is_not_judged_and_its_output_goes_to_someone_else():
    study = _with_safety(make_study(n_batches=2, slots=1, batch_length=3))
    assert set(safety.owed_judgments(study).values()) == {1}
    client = Client()
    page = _start(client, study, "p1")
    assert 'id="skip"' in page and 'id="pause"' in page
    first = _entry(page)
    r = client.post(f"/a/{study.name}/skip/", {"entry_id": first})
    assert r.status_code == 302
    again = client.post(f"/a/{study.name}/skip/", {"entry_id": first})  # a double click
    assert again.status_code == 302 and ItemSkip.objects.count() == 1
    page = client.get(f"/a/{study.name}/item/").content.decode()
    assert _entry(page) != first and "2 of 3" in page
    skip = ItemSkip.objects.get()
    assert skip.reassigned_to is not None and skip.reassigned_to.kind == safety.REASSIGNED_KIND
    assert not Judgment.objects.exists()
    # the planned judgments per output are still k = 1
    assert set(safety.owed_judgments(study).values()) == {1}
    # finish the batch; the skip counts for nothing in the decision
    for _ in range(2):
        client.post(
            f"/a/{study.name}/item/",
            {"entry_id": _entry(page), "idempotency_key": _key(page), "value__empathy": "40"},
        )
        page = client.get(f"/a/{study.name}/item/", follow=True).content.decode()
    assert "DONE-123" in page
    skipper = Participant.objects.get(external_id="p1")
    assert decision_for(skipper).outcome == "approve"
    # the skipper never gets the reassigned batch (they have seen its output); another does
    assert skip.reassigned_to_id in _batches_excluded_for(skipper)
    other = get_or_create_participant(study, "p2", "prolific")
    while (work := request_work(other)).assignment is not None:
        for entry in work.assignment.slot.batch.entries.all():
            record_judgment(
                other,
                entry_id=entry.id,
                values={"empathy": 50},
                rationales={},
                idempotency_key=f"k{entry.id}",
            )
    # every output got exactly k = 1 judgments, the skipped one from p2
    per_output = Counter(Judgment.objects.values_list("item__output_key", flat=True))
    assert set(per_output.values()) == {1} and len(per_output) == 6
    assert Judgment.objects.get(item=skip.item).participant == other


def test_skipping_the_last_item_completes_the_batch():
    study = _with_safety(make_study(n_batches=1, slots=1, batch_length=1))
    client = Client()
    page = _start(client, study, "p1")
    r = client.post(f"/a/{study.name}/skip/", {"entry_id": _entry(page)})
    assert r["Location"].endswith("/done/")
    assert Assignment.objects.get().status == "completed"
    assert BatchSlot.objects.filter(batch__index=0).get().state == "completed"


def test_no_skip_without_the_setting_and_a_stale_skip_is_refused():
    study = make_study(n_batches=1, slots=1, batch_length=2)
    client = Client()
    page = _start(client, study, "p1")
    assert 'id="skip"' not in page
    client.post(f"/a/{study.name}/skip/", {"entry_id": _entry(page)})
    assert not ItemSkip.objects.exists()
    participant = Participant.objects.get()
    assert safety.skip_item(participant, 999999, timezone.now()).code == "unexpected"


def test_pause_keeps_the_place_and_the_break_reminder_comes_after_its_time():
    study = _with_safety(
        make_study(n_batches=1, slots=1, batch_length=3), break_reminder_minutes=20
    )
    client = Client()
    page = _start(client, study, "p1")
    assert "1 of 3" in page
    participant = Participant.objects.get()
    # 25 minutes since the instructions, but away for more than REST: no reminder
    Participant.objects.filter(pk=participant.pk).update(
        instructions_read_at=timezone.now() - timedelta(minutes=25)
    )
    assert "1 of 3" in client.get(f"/a/{study.name}/item/").content.decode()
    # 25 minutes of work, the last judgment a minute ago: the reminder, once
    client.post(
        f"/a/{study.name}/item/",
        {"entry_id": _entry(page), "idempotency_key": _key(page), "value__empathy": "40"},
    )
    SafetyEvent.objects.all().delete()
    Judgment.objects.update(server_received_at=timezone.now() - timedelta(minutes=1))
    reminder = client.get(f"/a/{study.name}/item/").content.decode()
    assert 'id="break-reminder"' in reminder and "20 minutes" in reminder
    assert "2 of 3" in client.get(f"/a/{study.name}/item/").content.decode()
    before = Assignment.objects.get().lease_expires_at
    paused = client.post(f"/a/{study.name}/pause/", follow=True).content.decode()
    assert 'id="paused"' in paused
    assert Assignment.objects.get().lease_expires_at >= before
    assert BatchSlot.objects.get().lease_expires_at == Assignment.objects.get().lease_expires_at
    back = client.post(f"/a/{study.name}/break/", {"action": "resume"}, follow=True)
    assert "2 of 3" in back.content.decode()


def test_the_daily_cap_stops_work_and_keeps_the_place():
    study = _with_safety(make_study(n_batches=1, slots=1, batch_length=3), daily_item_cap=1)
    client = Client()
    page = _start(client, study, "p1")
    client.post(
        f"/a/{study.name}/item/",
        {"entry_id": _entry(page), "idempotency_key": _key(page), "value__empathy": "40"},
    )
    limited = client.get(f"/a/{study.name}/item/").content.decode()
    assert 'id="daily-limit"' in limited and "at most 1 items a day" in limited
    live = Assignment.objects.get()
    assert live.lease_expires_at > timezone.now() + timedelta(hours=23)
    # a day later they carry on where they stopped
    Judgment.objects.update(server_received_at=timezone.now() - timedelta(hours=25))
    assert "2 of 3" in client.get(f"/a/{study.name}/item/").content.decode()
