"""The qualification step: gold items before the first real item, feedback after each
answer, the pass threshold; a failed annotator leases nothing and leaves screened out."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from annotation import qualification
from annotation.models import Assignment, Participant, QualificationAnswer, Study
from annotation.quality_control import decision_for
from tests.factories import make_study

pytestmark = pytest.mark.django_db

TURNS = [{"speaker": "Speaker", "text": "My dog died."}]
GOLD = [
    {"id": "g1", "context": TURNS, "response": "So sorry.", "expect": {"empathy": {"min": 60}}},
    {"id": "g2", "context": TURNS, "response": "Whatever.", "expect": {"empathy": {"max": 30}}},
]


def _study(threshold: float = 1.0) -> Study:
    study = make_study(
        n_batches=2,
        slots=1,
        completion={"code": "DONE", "codes": {"screened_out": {"code": "SCREENED-9"}}},
    )
    spec = dict(study.spec)
    spec["quality_control"] = {
        "gold": {
            "items": GOLD,
            "placement": "qualification",
            "pass_threshold": threshold,
            "feedback": True,
        },
        "decision": {"qualification_failed": "reject"},
    }
    Study.objects.filter(pk=study.pk).update(spec=spec)
    study.refresh_from_db()
    return study


def _start(client: Client, study: Study) -> str:
    client.get(f"/a/{study.name}/?PROLIFIC_PID=p1&STUDY_ID=s&SESSION_ID=x")
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    client.post(f"/a/{study.name}/instructions/")
    return client.get(f"/a/{study.name}/item/", follow=True).content.decode()


def _answer(client: Client, study: Study, page: str, value: int) -> str:
    gold_id = re.search(r'name="entry_id" value="([\w-]+)"', page).group(1)
    r = client.post(
        f"/a/{study.name}/qualification/", {"entry_id": gold_id, "value__empathy": value}
    )
    assert r.status_code == 302 and f"answered={gold_id}" in r["Location"]
    return client.get(r["Location"]).content.decode()


def test_gold_items_come_first_with_feedback_then_real_work():
    study = _study()
    client = Client()
    page = _start(client, study)
    assert "So sorry." in page and "1 of 2" in page and "short qualification" in page
    assert not Assignment.objects.exists()  # nothing leased while qualifying
    feedback = _answer(client, study, page, 80)
    assert 'id="feedback-title">Correct' in feedback
    page = client.get(f"/a/{study.name}/qualification/").content.decode()
    assert "Whatever." in page and "2 of 2" in page
    feedback = _answer(client, study, page, 20)
    assert "Correct" in feedback
    page = client.get(f"/a/{study.name}/item/").content.decode()
    assert "Answer <i>" not in page and "Answer &lt;i&gt;" in page  # a real item, escaped
    assert Assignment.objects.count() == 1
    assert decision_for(Participant.objects.get()).outcome == "approve"


def test_a_failed_qualification_leases_nothing_and_leaves_with_the_screened_out_code():
    study = _study(threshold=1.0)
    client = Client()
    page = _start(client, study)
    feedback = _answer(client, study, page, 10)  # g1 expects at least 60
    assert "Not the expected answer" in feedback and "empathy: at least 60" in feedback
    page = client.get(f"/a/{study.name}/qualification/").content.decode()
    _answer(client, study, page, 20)
    for url in ("item/", "qualification/", "done/", "?PROLIFIC_PID=p1&STUDY_ID=s&SESSION_ID=x"):
        final = client.get(f"/a/{study.name}/{url}", follow=True).content.decode()
        assert "SCREENED-9" in final and 'id="screened-out"' in final, url
    assert not Assignment.objects.exists()
    participant = Participant.objects.get()
    assert qualification.status(participant).passed is False
    decision = decision_for(participant)
    assert decision.outcome == "reject" and "did not pass the qualification" in decision.reasons


def test_an_answer_is_kept_once_and_out_of_order_answers_are_refused():
    study = _study(threshold=0.5)
    client = Client()
    page = _start(client, study)
    client.post(f"/a/{study.name}/qualification/", {"entry_id": "g1", "value__empathy": 90})
    again = client.post(f"/a/{study.name}/qualification/", {"entry_id": "g1", "value__empathy": 1})
    assert again.status_code == 302  # the first answer is kept
    assert list(QualificationAnswer.objects.values_list("gold_id", "correct")) == [("g1", True)]
    bad = client.post(f"/a/{study.name}/qualification/", {"entry_id": "g9", "value__empathy": 1})
    assert bad.status_code == 400 and "not the item expected next" in bad.content.decode()
    missing = client.post(f"/a/{study.name}/qualification/", {"entry_id": "g2"})
    assert missing.status_code == 400
    assert page


def test_a_screened_out_annotator_back_when_no_work_is_left_still_gets_their_code():
    study = _study(threshold=1.0)
    client = Client()
    page = _start(client, study)
    page = _answer(client, study, page, 10)
    page = client.get(f"/a/{study.name}/qualification/").content.decode()
    _answer(client, study, page, 10)
    from annotation.models import BatchSlot

    BatchSlot.objects.update(state="completed", participant=Participant.objects.get())
    final = client.get(
        f"/a/{study.name}/?PROLIFIC_PID=p1&STUDY_ID=s&SESSION_ID=x", follow=True
    ).content.decode()
    assert "SCREENED-9" in final and 'id="no-work"' not in final


def test_the_no_work_page_gives_the_no_work_code_and_redirect():
    study = make_study(
        n_batches=1,
        slots=1,
        completion={
            "code": "DONE",
            "codes": {"no_work": {"code": "NW-7", "redirect_url": "https://example.org/nw"}},
        },
    )
    from annotation.models import BatchSlot

    other = Participant.objects.create(study=study, external_id="x", source="cookie")
    BatchSlot.objects.update(state="completed", participant=other)
    page = Client().get(f"/a/{study.name}/?PROLIFIC_PID=late&STUDY_ID=s&SESSION_ID=x")
    html = page.content.decode()
    assert 'id="no-work"' in html and "NW-7" in html and 'href="https://example.org/nw"' in html
