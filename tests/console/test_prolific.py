"""Prolific through its API, against a local fake Prolific server (tests/console/fake_prolific):
the draft made from the spec and the pilot, submissions approved or rejected by the
annotators' decisions, and a returned participant's place freed at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from annotation.assignment import request_work
from annotation.models import Assignment, BatchSlot, Participant
from console.platforms import prolific_core as core
from console.platforms import prolific_sync
from console.platforms.models import ProlificLink
from console.platforms.prolific import ProlificClient, ProlificError
from tests.console.fake_prolific import FakeProlific
from tests.factories import make_study

TOKEN = "prolific-test-token-0123456789abcdef"
pytestmark = pytest.mark.django_db


@pytest.fixture
def fake(settings):
    server = FakeProlific(TOKEN).start()
    settings.PROLIFIC_API_URL = server.url
    yield server
    server.stop()


@dataclass(frozen=True)
class _Decision:  # the contract's shape (annotation.decisions.Decision)
    outcome: str
    reasons: tuple[str, ...] = ()
    reject_reason: str = ""
    reject_rule: str = ""


def _participant(study, pid: str) -> Participant:
    return Participant.objects.create(
        study=study, external_id=pid, source="prolific", consented_at=timezone.now()
    )


def _complete_a_batch(participant: Participant, minutes: float) -> None:
    """A pilot batch done in `minutes` (lease start to completion)."""
    work = request_work(participant)
    assert work.assignment is not None
    now = timezone.now()
    Assignment.objects.filter(pk=work.assignment.pk).update(
        status=Assignment.Status.COMPLETED,
        started_at=now - timedelta(minutes=minutes),
        completed_at=now,
    )
    BatchSlot.objects.filter(pk=work.assignment.slot_id).update(state=BatchSlot.State.COMPLETED)


def _linked(study) -> ProlificLink:
    link = ProlificLink(study=study)
    link.set_token(TOKEN)
    link.save()
    return link


def test_the_draft_is_made_from_the_spec_the_pilot_and_the_free_slots(fake):
    study = make_study(
        n_batches=3, slots=2, completion={"code": "DONE-123", "no_work_code": "NOWORK-9"}
    )
    for pid, minutes in (("pilot-a", 4.2), ("pilot-b", 7.5), ("pilot-c", 12)):
        _complete_a_batch(_participant(study, pid), minutes)
    link = _linked(study)
    call_command("prolific", "create-draft", study.name, "--reward-cents", "150")

    (created,) = fake.studies.values()
    assert created["status"] == "UNPUBLISHED"
    assert created["name"] == study.spec["title"]
    assert created["internal_name"] == study.name
    assert created["total_available_places"] == 6 - 3  # the free slots
    assert created["estimated_completion_time"] == 8  # the median 7.5 minutes, rounded up
    assert created["reward"] == 150
    assert created["external_study_url"].endswith(
        f"/a/{study.name}/?PROLIFIC_PID={{{{%PROLIFIC_PID%}}}}&STUDY_ID={{{{%STUDY_ID%}}}}"
        "&SESSION_ID={{%SESSION_ID%}}"
    )
    codes = {c["code"]: c["code_type"] for c in created["completion_codes"]}
    assert codes == {"DONE-123": "COMPLETED", "NOWORK-9": "OTHER"}
    # approval is this app's decision, never Prolific's automatic one
    assert {a["action"] for c in created["completion_codes"] for a in c["actions"]} == {
        "MANUALLY_REVIEW"
    }
    link.refresh_from_db()
    assert link.prolific_study_id == created["id"]
    assert fake.seen_auth == {f"Token {TOKEN}"}


def test_several_completion_codes_from_the_spec(fake):
    completion = {
        "code": "OLD",
        "codes": {
            "completed": {"code": "PASS-1"},
            "failed_checks": {"code": "FAIL-2"},
            "screened_out": {"code": "SCREEN-3"},
        },
    }
    inputs = core.DraftInputs("T", "D", "https://x.org/a/s/", "s", 100, 4, completion, 5)
    codes = {c["code"]: c["code_type"] for c in core.draft_payload(inputs)["completion_codes"]}
    assert codes == {"PASS-1": "COMPLETED", "FAIL-2": "FAILED_ATTENTION_CHECK", "SCREEN-3": "OTHER"}


def test_a_draft_without_pilot_or_places_is_refused_with_the_reason(fake):
    study = make_study(n_batches=1, slots=1)
    _linked(study)
    with pytest.raises(CommandError, match="no pilot batch"):
        call_command("prolific", "create-draft", study.name, "--reward-cents", "100")
    BatchSlot.objects.filter(batch__study=study).update(
        state=BatchSlot.State.COMPLETED, participant=_participant(study, "x")
    )
    with pytest.raises(CommandError, match="no free slot"):
        call_command(
            "prolific", "create-draft", study.name, "--reward-cents", "100", "--minutes", "5"
        )
    assert fake.studies == {}


def test_sync_approves_and_rejects_by_decision_and_frees_a_returned_place(fake, monkeypatch):
    study = make_study(n_batches=2, slots=2)
    careful, clicker, undecided, leaver = (
        _participant(study, pid) for pid in ("careful", "clicker", "undecided", "leaver")
    )
    link = _linked(study)
    link.prolific_study_id = "ps1"
    link.save()
    fake.studies["ps1"] = {"id": "ps1"}
    subs = {
        "careful": fake.add_submission("ps1", "careful", "AWAITING REVIEW"),
        "clicker": fake.add_submission("ps1", "clicker", "AWAITING REVIEW"),
        "undecided": fake.add_submission("ps1", "undecided", "AWAITING REVIEW"),
        "leaver": fake.add_submission("ps1", "leaver", "RETURNED"),
        "stranger": fake.add_submission("ps1", "not-here", "AWAITING REVIEW"),
    }
    held = request_work(leaver).assignment
    assert held is not None and held.slot.state == BatchSlot.State.LEASED
    decisions = {
        careful.id: _Decision("approve"),
        clicker.id: _Decision(
            "reject", ("failed 2 of 3 attention checks",), "failed 2 of 3 attention checks"
        ),
        undecided.id: _Decision("review"),
    }
    monkeypatch.setattr(prolific_sync, "study_decisions", lambda s: decisions)

    call_command("prolific", "sync", study.name)

    assert fake.status_of(subs["careful"]) == "APPROVED"
    assert fake.status_of(subs["clicker"]) == "REJECTED"
    assert fake.status_of(subs["undecided"]) == "AWAITING REVIEW"  # left for the researcher
    assert fake.status_of(subs["stranger"]) == "AWAITING REVIEW"  # nobody here with this id
    (rejection,) = [body for sid, body in fake.transitions if sid == subs["clicker"]]
    assert rejection["rejection_category"] == "FAILED_CHECK"
    assert "failed 2 of 3 attention checks" in rejection["message"]
    # the returned participant's place is free now, not when the lease runs out
    held.refresh_from_db()
    held.slot.refresh_from_db()
    assert held.status == Assignment.Status.EXPIRED
    assert held.slot.state == BatchSlot.State.FREE and held.slot.participant_id is None
    link.refresh_from_db()
    assert link.last_sync["counts"] == {"approve": 1, "reject": 1, "leave": 2, "release": 1}
    assert link.last_sync["released"] == ["leaver"]
    # a second sync changes nothing on Prolific (nothing left awaiting a decision of ours)
    before = len(fake.transitions)
    call_command("prolific", "sync", study.name)
    assert len(fake.transitions) == before


def test_a_timed_out_participant_frees_the_place_too():
    subs = [core.Submission("s1", "p1", "TIMED-OUT"), core.Submission("s2", "p2", "ACTIVE")]
    kinds = [a.kind for a in core.plan_actions(subs, {"p2": core.DecisionView("approve")})]
    assert kinds == ["release", "leave"]  # an active submission is never decided early


def test_a_wrong_token_is_refused_and_never_echoed(fake):
    with ProlificClient("wrong-token-secret-value", fake.url) as client:
        with pytest.raises(ProlificError, match="401") as refused:
            list(client.submissions("ps1"))
    assert "wrong-token-secret-value" not in str(refused.value)


def test_the_token_is_stored_encrypted_and_shown_only_by_its_end(tmp_path, capsys):
    study = make_study(n_batches=1, slots=1)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    call_command("prolific", "token", study.name, "--token-file", str(token_file))
    link = ProlificLink.objects.get(study=study)
    assert TOKEN not in link.token_encrypted and link.token() == TOKEN
    out = capsys.readouterr().out
    assert TOKEN not in out and link.token_hint == "…cdef" and "…cdef" in out


def test_a_rejection_message_meets_prolifics_minimum():
    assert len(core.rejection_message("too fast")) >= core.MIN_REJECTION_MESSAGE
    assert len(core.rejection_message("")) >= core.MIN_REJECTION_MESSAGE


def test_the_console_page_creates_the_draft_and_syncs_without_showing_the_token(fake, client):
    from console.models import Role
    from tests.console.conftest import PASSWORD, member

    study = make_study(n_batches=1, slots=2)
    owner = member(study, "olivia", Role.OWNER)
    viewer = member(study, "victor", Role.VIEWER)
    url = f"/console/{study.name}/prolific/"
    client.login(username=viewer.username, password=PASSWORD)
    assert client.post(url, {"action": "token", "token": TOKEN}).status_code == 404
    assert not ProlificLink.objects.exists()
    client.login(username=owner.username, password=PASSWORD)
    page = client.post(url, {"action": "token", "token": TOKEN}, follow=True).content.decode()
    assert TOKEN not in page and "…cdef" in page
    page = client.post(
        url, {"action": "create_draft", "reward_cents": "120", "minutes": "6"}, follow=True
    ).content.decode()
    (created,) = fake.studies.values()
    assert created["total_available_places"] == 2 and created["estimated_completion_time"] == 6
    assert created["id"] in page and TOKEN not in page
    fake.add_submission(created["id"], "gone", "TIMED-OUT")
    page = client.post(url, {"action": "sync"}, follow=True).content.decode()
    assert "Synced with Prolific: release 1" in page


def test_a_rejection_carries_the_category_of_its_rule():
    from annotation.decisions import Evidence, Rules, decide
    from console.platforms import prolific_core as core

    rules = Rules(degraded_not_significant="reject", attention_reject_at=2)
    clicker = decide(Evidence(degraded_pairs=((3.0, 4.0),) * 6), rules)
    careless = decide(Evidence(attention_total=3, attention_failed=2), rules)
    assert (clicker.outcome, clicker.reject_rule) == ("reject", "degraded")
    assert (careless.outcome, careless.reject_rule) == ("reject", "attention")
    views = {
        pid: core.DecisionView(d.outcome, d.reject_reason, core.rejection_category(d.reject_rule))
        for pid, d in (("p-clicker", clicker), ("p-careless", careless))
    }
    submissions = [
        core.Submission(id=f"s-{pid}", participant_id=pid, status=core.AWAITING_REVIEW)
        for pid in views
    ]
    bodies = {a.participant_id: a.body for a in core.plan_actions(submissions, views)}
    assert bodies["p-clicker"]["rejection_category"] == "LOW_EFFORT"
    assert bodies["p-careless"]["rejection_category"] == "FAILED_CHECK"
    assert core.rejection_category("") == "FAILED_CHECK"
