"""MTurk's ExternalQuestion flow: a preview records nothing, an accepted HIT ends with a form
that posts the assignment to MTurk's externalSubmit, a forged turkSubmitTo is refused, and
the HIT's question XML is valid."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from annotation import mturk
from annotation.models import BatchSlot, Participant
from tests.factories import make_study

pytestmark = pytest.mark.django_db
SANDBOX = "https://workersandbox.mturk.com"
HOSTS = ("https://www.mturk.com", SANDBOX)


def _link(study, assignment="ASSIGN1", worker="W1", submit_to=SANDBOX, hit="HIT1") -> str:
    return (
        f"/a/{study.name}/?assignmentId={assignment}&hitId={hit}&workerId={worker}"
        f"&turkSubmitTo={submit_to}"
    )


def _form(html: str) -> dict:
    entry = re.search(r'name="entry_id" value="(\d+)"', html).group(1)
    key = re.search(r'name="idempotency_key" value="(\w+)"', html).group(1)
    return {"entry_id": entry, "idempotency_key": key}


def _finish_batch(client: Client, study, link: str) -> str:
    client.get(link)
    client.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    client.post(f"/a/{study.name}/instructions/")
    page = client.get(f"/a/{study.name}/item/").content.decode()
    for _ in range(3):
        client.post(f"/a/{study.name}/item/", {**_form(page), "value__empathy": "40"})
        page = client.get(f"/a/{study.name}/item/", follow=True).content.decode()
    return page


def test_a_preview_shows_an_example_item_and_records_nothing():
    study = make_study(n_batches=1, slots=1)
    client = Client()
    response = client.get(
        f"/a/{study.name}/?assignmentId={mturk.PREVIEW_ASSIGNMENT}&hitId=HIT1"
        "&turkSubmitTo=https://evil.example"
    )
    page = response.content.decode()
    assert response.status_code == 200 and 'id="mturk-preview"' in page
    assert 'id="judgment-form"' in page and "Answer <i>" not in page  # an item, escaped
    assert not [c for c in response.cookies if c.startswith("evalsite_v_")]  # names nobody
    assert not Participant.objects.exists()
    assert not BatchSlot.objects.filter(state=BatchSlot.State.LEASED).exists()
    # MTurk's worker sites may frame it; nobody else
    assert "X-Frame-Options" not in response.headers
    assert "frame-ancestors https://worker.mturk.com" in response.headers["Content-Security-Policy"]


def test_other_annotator_pages_stay_unframable_and_post_only_here():
    study = make_study(n_batches=1, slots=1)
    response = Client().get(f"/a/{study.name}/?PROLIFIC_PID=p1&STUDY_ID=s&SESSION_ID=x")
    assert response.headers["X-Frame-Options"] == "DENY"
    policy = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "form-action 'self';" in policy + ";"
    assert "mturk" not in policy


def test_the_last_page_posts_the_assignment_to_the_sandbox():
    study = make_study(n_batches=1, slots=1, completion={"code": "DONE-1"})
    client = Client()
    page = _finish_batch(client, study, _link(study))
    participant = Participant.objects.get()
    assert participant.source == "mturk" and participant.external_id == "mturk:W1"
    assert participant.platform_study_id == "HIT1"
    assert participant.platform_session_id == "ASSIGN1"
    form = re.search(r'<form method="post" action="([^"]+)" id="mturk-submit-form"', page)
    assert form and form.group(1) == f"{SANDBOX}/mturk/externalSubmit"
    assert '<input type="hidden" name="assignmentId" value="ASSIGN1">' in page
    # the page may post there (CSP form-action), and the done page is framable by MTurk
    done = client.get(f"/a/{study.name}/done/")
    assert SANDBOX in done.headers["Content-Security-Policy"].split("form-action")[1]
    assert "X-Frame-Options" not in done.headers


def test_a_worker_back_with_another_hit_is_told_to_return_it():
    study = make_study(n_batches=2, slots=1)
    client = Client()
    _finish_batch(client, study, _link(study))
    page = client.get(_link(study, assignment="ASSIGN2", hit="HIT2"), follow=True)
    html = page.content.decode()
    assert 'id="mturk-other-assignment"' in html and 'id="mturk-submit-form"' not in html
    assert Participant.objects.count() == 1


@pytest.mark.parametrize(
    "forged",
    [
        "https://evil.example",
        "https://www.mturk.com.evil.example",
        "https://evil.example/?https://www.mturk.com",
        "https://www.mturk.com@evil.example",
        "http://www.mturk.com",
        "https://www.mturk.com/elsewhere",
        "javascript:alert(1)",
        "",
    ],
)
def test_a_forged_turk_submit_to_is_refused(forged):
    study = make_study(n_batches=1, slots=1)
    response = Client().get(_link(study, submit_to=forged))
    assert response.status_code == 400
    assert "Mechanical Turk" in response.content.decode()
    assert not Participant.objects.exists()


def test_allowed_origins_are_exact():
    assert mturk.allowed_origin("https://www.mturk.com/", HOSTS) == "https://www.mturk.com"
    assert mturk.submit_url(SANDBOX, HOSTS) == f"{SANDBOX}/mturk/externalSubmit"
    with pytest.raises(mturk.MTurkLinkError):
        mturk.submit_url("https://attacker.example", HOSTS)


def test_the_question_xml_is_an_external_question(settings, tmp_path):
    settings.EVALSITE_SITE_URL = "https://eval.example.org"
    study = make_study(n_batches=1, slots=1)
    out = tmp_path / "question.xml"
    call_command("mturk_question", study.name, "--frame-height", "900", "--output", str(out))
    root = ElementTree.fromstring(out.read_bytes())
    ns = {"q": mturk.EXTERNAL_QUESTION_SCHEMA}
    assert root.tag == f"{{{mturk.EXTERNAL_QUESTION_SCHEMA}}}ExternalQuestion"
    assert root.find("q:ExternalURL", ns).text == f"https://eval.example.org/a/{study.name}/"
    assert root.find("q:FrameHeight", ns).text == "900"
    assert [child.tag.split("}")[1] for child in root] == ["ExternalURL", "FrameHeight"]


def test_the_question_needs_an_https_site(settings):
    settings.EVALSITE_SITE_URL = "http://eval.example.org"
    study = make_study(n_batches=1, slots=1)
    with pytest.raises(CommandError, match="HTTPS"):
        call_command("mturk_question", study.name)
