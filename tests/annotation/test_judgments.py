"""A judgment is stored once; anything but the expected item or a valid value is refused."""

import re

import pytest
from django.test import Client

from annotation.assignment import request_work
from annotation.models import Judgment, Participant
from annotation.services import (
    JudgmentRefused,
    get_or_create_participant,
    next_entry,
    record_judgment,
)
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def started(study, name="p1"):
    p = get_or_create_participant(study, name, "cookie")
    return p, request_work(p).assignment


def test_same_key_twice_is_stored_once_and_returns_the_stored_result():
    study = make_study()
    p, assignment = started(study)
    entry = next_entry(assignment)
    first = record_judgment(
        p, entry_id=entry.id, values={"empathy": 70}, rationales={}, idempotency_key="abc"
    )
    again = record_judgment(
        p, entry_id=entry.id, values={"empathy": 70}, rationales={}, idempotency_key="abc"
    )
    assert first.created and not again.created
    assert again.judgment.id == first.judgment.id
    assert Judgment.objects.count() == 1


def test_a_new_key_for_an_already_judged_item_is_refused():
    study = make_study()
    p, assignment = started(study)
    entry = next_entry(assignment)
    record_judgment(
        p, entry_id=entry.id, values={"empathy": 70}, rationales={}, idempotency_key="k1"
    )
    with pytest.raises(JudgmentRefused) as refused:
        record_judgment(
            p, entry_id=entry.id, values={"empathy": 71}, rationales={}, idempotency_key="k2"
        )
    assert refused.value.code == "unexpected_item"
    assert Judgment.objects.count() == 1


@pytest.mark.parametrize("entry_offset", [1, 999999])
def test_forged_or_out_of_order_item_is_refused_and_nothing_stored(entry_offset):
    study = make_study()
    p, assignment = started(study)
    entry = next_entry(assignment)
    with pytest.raises(JudgmentRefused) as refused:
        record_judgment(
            p,
            entry_id=entry.id + entry_offset,
            values={"empathy": 1},
            rationales={},
            idempotency_key="k",
        )
    assert refused.value.code == "unexpected_item"
    assert "not the item expected next" in str(refused.value)
    assert Judgment.objects.count() == 0


@pytest.mark.parametrize(
    "values,message",
    [
        ({"empathy": 150}, "empathy: 150 is not a number from 0 to 100"),
        ({"empathy": -1}, "empathy: -1 is not a number from 0 to 100"),
        ({}, "empathy: move the slider to answer"),
        ({"empathy": 5, "toxicity": 3}, "toxicity: unknown dimension"),
    ],
)
def test_bad_values_are_refused_and_nothing_stored(values, message):
    study = make_study()
    p, assignment = started(study)
    entry = next_entry(assignment)
    with pytest.raises(JudgmentRefused) as refused:
        record_judgment(p, entry_id=entry.id, values=values, rationales={}, idempotency_key="k")
    assert message in str(refused.value)
    assert Judgment.objects.count() == 0


def test_a_key_cannot_be_replayed_by_another_participant():
    study = make_study()
    p1, a1 = started(study, "p1")
    p2, a2 = started(study, "p2")
    record_judgment(
        p1, entry_id=next_entry(a1).id, values={"empathy": 3}, rationales={}, idempotency_key="kk"
    )
    with pytest.raises(JudgmentRefused):
        record_judgment(
            p2,
            entry_id=next_entry(a2).id,
            values={"empathy": 3},
            rationales={},
            idempotency_key="kk",
        )


# --- through HTTP, as a browser would --------------------------------------------------


def _walk_to_item(client, study):
    response = client.get(
        f"/a/{study.name}/?PROLIFIC_PID=prolific-1&STUDY_ID=s&SESSION_ID=x", follow=True
    )
    assert response.status_code == 200
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    client.post(f"/a/{study.name}/instructions/")
    return client.get(f"/a/{study.name}/item/")


def _form(html):
    entry = re.search(r'name="entry_id" value="(\d+)"', html).group(1)
    key = re.search(r'name="idempotency_key" value="(\w+)"', html).group(1)
    return entry, key


def test_double_post_and_reload_store_one_judgment():
    study = make_study(n_batches=1, slots=1)
    client = Client()
    page = _walk_to_item(client, study).content.decode()
    assert "1 of 3" in page
    entry, key = _form(page)
    data = {
        "entry_id": entry,
        "idempotency_key": key,
        "value__empathy": "40",
        "value__fluent": "true",
    }
    first = client.post(f"/a/{study.name}/item/", data)
    second = client.post(f"/a/{study.name}/item/", data)  # double click / network retry
    assert first.status_code == 302 and second.status_code == 302
    assert Judgment.objects.count() == 1
    reloaded = client.get(f"/a/{study.name}/item/").content.decode()
    assert "2 of 3" in reloaded
    assert Judgment.objects.get().values == {"empathy": 40, "fluent": True}
    participant = Participant.objects.get()
    assert participant.external_id == "prolific-1" and participant.platform_session_id == "x"


def test_out_of_range_post_shows_the_error_and_stores_nothing():
    study = make_study(n_batches=1, slots=1)
    client = Client()
    entry, key = _form(_walk_to_item(client, study).content.decode())
    response = client.post(
        f"/a/{study.name}/item/",
        {"entry_id": entry, "idempotency_key": key, "value__empathy": "1000"},
    )
    assert response.status_code == 400
    assert "empathy: &#x27;1000&#x27; is not a number from 0 to 100" in response.content.decode()
    assert Judgment.objects.count() == 0


def test_dialogue_text_is_escaped():
    study = make_study(n_batches=1, slots=1)
    page = _walk_to_item(Client(), study).content.decode()
    assert "&lt;b&gt;0&lt;/b&gt;" in page and "<b>0</b>" not in page
    assert "Answer &lt;i&gt;0&lt;/i&gt;" in page


def test_whole_batch_ends_with_the_completion_code_and_resumes_after_reload():
    study = make_study(
        n_batches=1,
        slots=1,
        completion={"code": "CODE-42", "redirect_url": "https://example.org/done"},
    )
    client = Client()
    page = _walk_to_item(client, study).content.decode()
    for expected in (1, 2, 3):
        assert f"{expected} of 3" in page
        entry, key = _form(page)
        response = client.post(
            f"/a/{study.name}/item/",
            {"entry_id": entry, "idempotency_key": key, "value__empathy": str(expected)},
        )
        page = client.get(response["Location"], follow=True).content.decode()
    assert "CODE-42" in page and "https://example.org/done" in page
    # Coming back later shows the done page, not new work.
    assert "CODE-42" in client.get(f"/a/{study.name}/", follow=True).content.decode()


def test_content_warning_comes_before_consent():
    study = make_study(content_warning="Some responses may be upsetting.")
    client = Client()
    first = client.get(f"/a/{study.name}/")
    assert first["Location"].endswith("/warning/")
    # Consent cannot be given before the warning was read.
    assert client.post(f"/a/{study.name}/consent/", {"consent": "yes"})["Location"].endswith(
        "/warning/"
    )
    assert not Participant.objects.exists()  # nobody is registered before consent
    page = client.get(f"/a/{study.name}/warning/").content.decode()
    assert "Some responses may be upsetting." in page
    response = client.post(f"/a/{study.name}/warning/", {"continue": "yes"})
    assert response["Location"].endswith("/consent/")
    # Skipping consent is not possible.
    assert client.get(f"/a/{study.name}/item/")["Location"].endswith("/consent/")
    assert client.get(f"/a/{study.name}/instructions/")["Location"].endswith("/consent/")
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    assert client.get(f"/a/{study.name}/item/")["Location"].endswith("/instructions/")
