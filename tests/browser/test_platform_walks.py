"""Crowd platforms in Chromium: an MTurk worker previews a HIT (an example, nothing recorded),
accepts it, does the batch inside MTurk's frame and submits the assignment to
turkSubmitTo/mturk/externalSubmit; a Prolific study is drafted, walked and synced against
a local fake Prolific (the real platforms cannot be reached from the tests).

The fake MTurk is a local page that frames the study link as MTurk's worker site does and
receives the final POST; settings name it as an allowed submit host and frame ancestor."""

from __future__ import annotations

import threading
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from annotation.models import BatchSlot, Judgment, Participant
from console.models import Role
from console.platforms import prolific_sync
from tests.console.conftest import PASSWORD, member
from tests.console.fake_prolific import FakeProlific
from tests.factories import make_study

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class FakeMTurk:
    """A worker site: /hit frames the study link with MTurk's parameters; the form's POST
    to /mturk/externalSubmit is recorded."""

    def __init__(self, study_url: str):
        self.study_url = study_url
        self.submitted: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _html(self, body: str) -> None:
                data = f"<!doctype html><html lang='en'><title>Fake MTurk</title>{body}".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                params = urllib.parse.urlencode(
                    {
                        "assignmentId": query.get("assignmentId", ""),
                        "hitId": "HIT-1",
                        **({"workerId": "WORKER-1"} if "workerId" in query else {}),
                        "turkSubmitTo": fake.url,
                    }
                )
                self._html(
                    "<h1>HIT</h1><iframe id='hit' title='HIT' style='width:100%;height:1500px;"
                    f"border:0' src='{fake.study_url}?{params}'></iframe>"
                )

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                fake.submitted.append({"path": self.path, **form})
                self._html("<h1 id='hit-submitted'>HIT submitted</h1>")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        # localhost, as the live server: same site, so the frame keeps its (Lax) cookie
        self.url = f"http://localhost:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake_mturk(live_server, settings):
    study = make_study(n_batches=1, slots=1, protocol="pairwise", completion={"code": "DONE-7"})
    fake = FakeMTurk(f"{live_server.url}/a/{study.name}/")
    settings.MTURK_SUBMIT_HOSTS = (*settings.MTURK_SUBMIT_HOSTS, fake.url)
    settings.MTURK_FRAME_ANCESTORS = (*settings.MTURK_FRAME_ANCESTORS, fake.url)
    yield study, fake
    fake.stop()


def _axe_clean(axe, page) -> None:
    violations = axe.run(page).response["violations"]
    bad = [v["id"] for v in violations if v.get("impact") in ("serious", "critical")]
    assert not bad, bad


def test_mturk_preview_then_accept_work_and_submit(page, fake_mturk, axe, shots, live_server):
    study, fake = fake_mturk
    page.goto(f"{fake.url}/hit?assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE")
    frame = page.frame_locator("#hit")
    frame.locator("#mturk-preview").wait_for()
    frame.locator("#judgment-form").wait_for()
    frame.locator("label:has(input[value='a'])").first.click()
    frame.locator("#submit").click()  # the preview's form posts nowhere
    frame.locator("#unanswered", has_text="nothing was saved").wait_for()
    page.screenshot(path=str(shots / "mturk-preview.png"), full_page=True)
    assert not Participant.objects.exists() and not Judgment.objects.exists()
    assert not BatchSlot.objects.filter(state=BatchSlot.State.LEASED).exists()

    page.goto(f"{fake.url}/hit?assignmentId=ASSIGN-1&workerId=WORKER-1")
    frame = page.frame_locator("#hit")
    frame.locator("#consent-yes").click()
    frame.locator("#start").click()
    for _ in range(3):
        entry = frame.locator("input[name=entry_id]").get_attribute("value")
        frame.locator("label:has(input[value='a'])").first.click()
        frame.locator("#submit").click()
        # the next page, not the one just submitted (whose progress text is still there)
        frame.locator(
            f"input[name=entry_id]:not([value='{entry}']), #mturk-submit-form"
        ).first.wait_for(state="attached")
    frame.locator("#mturk-submit-button").wait_for()
    page.screenshot(path=str(shots / "mturk-done.png"), full_page=True)
    worker = Participant.objects.get()
    assert (worker.source, worker.external_id, worker.platform_session_id) == (
        "mturk",
        "mturk:WORKER-1",
        "ASSIGN-1",
    )
    assert Judgment.objects.filter(participant=worker).count() == 3
    frame.locator("#mturk-submit-button").click()
    page.locator("#hit-submitted").wait_for()
    assert fake.submitted == [{"path": "/mturk/externalSubmit", "assignmentId": "ASSIGN-1"}]

    # the done page itself (outside the frame) passes axe-core
    framed = page.context.new_page()
    framed.goto(f"{live_server.url}/a/{study.name}/done/")
    framed.locator("#mturk-submit").wait_for()
    _axe_clean(axe, framed)
    framed.close()


@dataclass(frozen=True)
class _Decision:
    outcome: str
    reasons: tuple[str, ...] = ()
    reject_reason: str = ""


def test_prolific_draft_walk_and_sync(page, live_server, settings, shots, axe, monkeypatch):
    fake = FakeProlific("walk-token-0123456789").start()
    settings.PROLIFIC_API_URL = fake.url
    try:
        study = make_study(n_batches=2, slots=1, protocol="pairwise", completion={"code": "P-OK"})
        owner = member(study, "olivia", Role.OWNER)
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", owner.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}/console/{study.name}/prolific/")
        page.fill("#token", fake.token)
        page.click("#prolific-token button")
        page.fill("#reward", "150")
        page.fill("#minutes", "5")
        page.click("#create-draft")
        (created,) = fake.studies.values()
        assert created["total_available_places"] == 2
        page.locator("#sync-now").wait_for()
        assert fake.token not in page.content()
        page.screenshot(path=str(shots / "prolific-console.png"), full_page=True)
        _axe_clean(axe, page)

        # one annotator finishes through the Prolific link; another takes a batch and returns
        walker = page.context.browser.new_context(viewport={"width": 412, "height": 900})
        annotator = walker.new_page()
        annotator.goto(
            f"{live_server.url}/a/{study.name}/?PROLIFIC_PID=finisher&STUDY_ID={created['id']}"
            "&SESSION_ID=s-1"
        )
        annotator.click("#consent-yes")
        annotator.click("#start")
        for _ in range(3):
            entry = annotator.locator("input[name=entry_id]").get_attribute("value")
            annotator.locator("label:has(input[value='a'])").first.click()
            annotator.click("#submit")
            # the next page, not the one just submitted (whose progress text is still there)
            annotator.locator(
                f"input[name=entry_id]:not([value='{entry}']), #completion-code"
            ).first.wait_for(state="attached")
        assert annotator.locator("#completion-code").inner_text() == "P-OK"
        annotator.goto(
            f"{live_server.url}/a/{study.name}/?PROLIFIC_PID=leaver&STUDY_ID={created['id']}"
            "&SESSION_ID=s-2"
        )
        annotator.click("#consent-yes")
        annotator.click("#start")
        annotator.locator("#judgment-form").wait_for()
        walker.close()
        leaver = Participant.objects.get(external_id="leaver")
        assert BatchSlot.objects.filter(participant=leaver, state="leased").exists()

        approved = fake.add_submission(created["id"], "finisher", "AWAITING REVIEW")
        fake.add_submission(created["id"], "leaver", "RETURNED")
        finisher = Participant.objects.get(external_id="finisher")
        monkeypatch.setattr(
            prolific_sync, "study_decisions", lambda s: {finisher.id: _Decision("approve")}
        )
        page.click("#sync-now")
        page.locator("#messages", has_text="Synced with Prolific").wait_for()
        assert fake.status_of(approved) == "APPROVED"
        assert not BatchSlot.objects.filter(participant=leaver, state="leased").exists()
        page.screenshot(path=str(shots / "prolific-synced.png"), full_page=True)
    finally:
        fake.stop()
