"""The annotator's pages over HTTP: study status, no work before consent, safe Markdown,
wording, labels in messages, and the site's own error pages."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string
from django.test import Client

from annotation.assignment import request_work, work_available
from annotation.models import Judgment, Participant, Study
from annotation.services import get_or_create_participant
from annotation.study_text import markdown_to_html
from annotation.views import presentation
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def _form(html: str) -> dict:
    entry = re.search(r'name="entry_id" value="(\d+)"', html).group(1)
    key = re.search(r'name="idempotency_key" value="(\w+)"', html).group(1)
    return {"entry_id": entry, "idempotency_key": key}


def _to_first_item(client: Client, study: Study, pid: str = "p1") -> str:
    client.get(f"/a/{study.name}/?PROLIFIC_PID={pid}&STUDY_ID=s&SESSION_ID=x")
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    client.post(f"/a/{study.name}/instructions/")
    return client.get(f"/a/{study.name}/item/").content.decode()


def _set_status(study: Study, status: str) -> None:
    Study.objects.filter(pk=study.pk).update(status=status)


# --------------------------------------------------------------------------- study status


def test_a_closed_study_registers_nobody_and_serves_no_work():
    study = make_study()
    _set_status(study, Study.Status.CLOSED)
    response = Client().get(f"/a/{study.name}/?PROLIFIC_PID=late&STUDY_ID=s&SESSION_ID=x")
    assert response.status_code == 200 and 'id="study-closed"' in response.content.decode()
    assert not Participant.objects.exists()


def test_closing_stops_a_batch_in_progress_but_a_finished_annotator_keeps_their_code():
    study = make_study(n_batches=2, slots=1, completion={"code": "CODE-1"})
    finisher, worker = Client(), Client()
    page = _to_first_item(finisher, study, "finisher")
    for _ in range(3):
        finisher.post(f"/a/{study.name}/item/", {**_form(page), "value__empathy": "30"})
        page = finisher.get(f"/a/{study.name}/item/", follow=True).content.decode()
    assert "CODE-1" in page
    page = _to_first_item(worker, study, "worker")
    _set_status(study, Study.Status.CLOSED)
    refused = worker.post(f"/a/{study.name}/item/", {**_form(page), "value__empathy": "30"})
    assert 'id="study-closed"' in refused.content.decode()
    assert Judgment.objects.filter(participant__external_id="worker").count() == 0
    assert "CODE-1" in finisher.get(f"/a/{study.name}/", follow=True).content.decode()


def test_a_paused_study_lets_a_lease_holder_finish_and_asks_others_to_come_back():
    study = make_study(n_batches=2, slots=1)
    holder = Client()
    page = _to_first_item(holder, study, "holder")
    _set_status(study, Study.Status.PAUSED)
    assert (
        holder.post(f"/a/{study.name}/item/", {**_form(page), "value__empathy": "30"}).status_code
        == 302
    )
    assert "2 of 3" in holder.get(f"/a/{study.name}/item/").content.decode()
    newcomer = Client().get(f"/a/{study.name}/?PROLIFIC_PID=new&STUDY_ID=s&SESSION_ID=x")
    assert (
        'id="study-paused"' in newcomer.content.decode()
        and "come back later" in newcomer.content.decode()
    )
    assert not Participant.objects.filter(external_id="new").exists()


# --------------------------------------------------------------------------- no work


def test_no_work_is_said_before_the_consent_form():
    study = make_study(n_batches=1, slots=1, completion={"code": "DONE", "no_work_code": "NW-1"})
    first = get_or_create_participant(study, "first", "prolific")
    assert request_work(first).assignment is not None
    client = Client()
    page = client.get(
        f"/a/{study.name}/?PROLIFIC_PID=second&STUDY_ID=s&SESSION_ID=x"
    ).content.decode()
    assert 'id="no-work"' in page and "NW-1" in page and "return the study on Prolific" in page
    # going to the consent page by hand meets the same answer, and records nothing
    again = client.get(f"/a/{study.name}/consent/").content.decode()
    assert 'id="no-work"' in again and 'id="consent-text"' not in again
    assert client.post(f"/a/{study.name}/consent/", {"consent": "yes"}).status_code == 200
    assert not Participant.objects.filter(external_id="second").exists()


def test_work_available_follows_request_work():
    study = make_study(n_batches=2, slots=1, shared_outputs=True)
    one = get_or_create_participant(study, "one", "cookie")
    two = get_or_create_participant(study, "two", "cookie")
    assert work_available(one) and work_available(two)
    assert request_work(one).assignment is not None
    assert work_available(one), "a live lease is work"
    assert work_available(two)
    assert request_work(two).assignment is not None
    three = get_or_create_participant(study, "three", "cookie")
    assert not work_available(three) and request_work(three).assignment is None


# --------------------------------------------------------------------------- texts


def test_markdown_is_rendered_and_nothing_can_be_injected():
    html = markdown_to_html(
        "Rate the **reply**.\n\n<script>alert(1)</script> [bad](javascript:alert(1)) "
        "![pixel](https://tracker.example/p.png) <img src=x onerror=alert(1)>\n\n"
        "See https://www.crisistextline.org/ or [help](https://help.example.org)."
    )
    assert "<strong>reply</strong>" in html
    assert "<script" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html.split("[bad]")[0] and 'href="javascript' not in html
    assert "<img" not in html
    assert (
        '<a href="https://www.crisistextline.org/" target="_blank" rel="noopener noreferrer">'
        in html
    )
    assert (
        '<a href="https://help.example.org" target="_blank" rel="noopener noreferrer">help</a>'
        in html
    )
    assert markdown_to_html(None) == "" and markdown_to_html("  ") == ""
    assert markdown_to_html("# Title") == "<h2>Title</h2>"


def test_spec_texts_are_markdown_on_the_pages_and_dialogue_text_stays_plain():
    study = make_study(content_warning="Some replies are **rude**.")
    spec = dict(
        study.spec,
        consent="I agree to the *terms*.\nA second line.",
        instructions="Read **carefully**.",
        description="About *replies*.",
        estimated_minutes=1,
        crisis_resources="Call https://help.example.org",
    )
    Study.objects.filter(pk=study.pk).update(spec=spec)
    client = Client()
    warning = client.get(f"/a/{study.name}/", follow=True).content.decode()
    assert "<strong>rude</strong>" in warning
    assert warning.count("https://help.example.org</a>") == 1, "support text shown once"
    client.post(f"/a/{study.name}/warning/", {"continue": "yes"})
    consent = client.get(f"/a/{study.name}/consent/").content.decode()
    assert "<em>terms</em>" in consent and "About <em>replies</em>" in consent
    assert "about 1 minute." in consent
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    assert (
        "<strong>carefully</strong>"
        in client.get(f"/a/{study.name}/instructions/").content.decode()
    )
    client.post(f"/a/{study.name}/instructions/")
    item = client.get(f"/a/{study.name}/item/").content.decode()
    assert "&lt;b&gt;" in item and "<b>" not in item  # dataset text: escaped, never Markdown


def test_wording_names_the_reply_and_the_speakers():
    words = presentation.wording(
        {"wording": {"response": "Reply", "speakers": {"Listener": "Helper"}}}
    )
    turns = [
        {"speaker": "Speaker", "text": "hi"},
        {"speaker": "Listener", "text": "yo"},
        {"speaker": "Speaker", "text": "so"},
    ]
    assert presentation.shown_turns(turns, words)[1] == {"speaker": "Helper", "text": "yo"}
    assert presentation.response_speaker(turns, words) == "Helper"
    assert presentation.response_speaker(turns[:1], words) is None
    assert presentation.wording({}) == {"response": "Response", "speakers": {}}


def test_the_solved_example_is_drawn_as_the_controls_show_answers():
    spec = {
        "protocol": "rating",
        "dimensions": [
            {"key": "warmth", "type": "slider", "label": "Warmth", "statement": "Warm"},
            {"key": "clear", "type": "checkbox", "label": "Clear", "statement": "Clear"},
            {
                "key": "overall",
                "type": "likert",
                "label": "Overall",
                "statement": "Overall",
                "points": 3,
                "labels": ["Low", "Mid", "High"],
            },
        ],
        "example": {
            "turns": [{"speaker": "Speaker", "text": "I won!"}],
            "response": "Wow!",
            "answers": {"warmth": 80, "clear": False, "overall": 2},
        },
    }
    example = presentation.solved_example(spec)
    assert example["turns"] == [{"speaker": "Speaker", "text": "I won!"}]
    slider, box, likert = example["answers"]
    assert slider["percent"] == 80.0
    assert box["text"] == "No" and box["checked"] is False
    assert likert["text"] == "Mid" and [o["chosen"] for o in likert["options"]] == [
        False,
        True,
        False,
    ]
    pairwise = presentation.solved_example(
        {
            "protocol": "pairwise",
            "dimensions": [
                {"key": "o", "type": "choice", "statement": "Better?", "allow_tie": True}
            ],
            "example": {"turns": [], "response_a": "x", "response_b": "y", "answers": {"o": "tie"}},
        }
    )
    assert pairwise["answers"][0]["text"] == "Tie"


def test_a_refused_submit_names_the_question_by_its_label():
    study = make_study(n_batches=1, slots=1)
    dims = [
        dict(d, label="How empathic" if d["key"] == "empathy" else "Fluent")
        for d in study.spec["dimensions"]
    ]
    Study.objects.filter(pk=study.pk).update(spec=dict(study.spec, dimensions=dims))
    client = Client()
    page = _to_first_item(client, study)
    response = client.post(f"/a/{study.name}/item/", _form(page))
    html = response.content.decode()
    assert response.status_code == 400
    assert "How empathic: move the slider to answer" in html
    assert "empathy:" not in html


def test_item_pages_are_never_stored_by_the_browser():
    study = make_study(n_batches=1, slots=1)
    client = Client()
    _to_first_item(client, study)
    response = client.get(f"/a/{study.name}/item/")
    assert "no-store" in response["Cache-Control"]
    assert 'id="judgment-form" class="card" autocomplete="off"' in response.content.decode()


# --------------------------------------------------------------------------- error pages


def test_error_pages_are_the_sites_own():
    response = Client().get("/a/no-such-study/")
    html = response.content.decode()
    assert response.status_code == 404
    assert 'id="error-page"' in html and "Page not found" in html and 'rel="icon"' in html
    for template in ("400.html", "403.html", "403_csrf.html", "500.html"):
        page = render_to_string(template)  # rendered without a request, as Django does for 500
        assert 'id="error-page"' in page and "<style>" in page
    icon = Client().get("/favicon.ico")
    assert icon.status_code == 200 and icon["Content-Type"] == "image/svg+xml"
