"""Per-annotator invitation links: signed, per study, same annotator on any device."""

import io
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from annotation.invitations import InvalidInvitation, make_invitation, read_invitation
from annotation.models import Participant
from tests.factories import make_study

pytestmark = pytest.mark.django_db


def test_tokens_round_trip_and_are_bound_to_their_study():
    token = make_invitation("study-a", "alice")
    assert read_invitation("study-a", token) == "alice"
    with pytest.raises(InvalidInvitation):
        read_invitation("study-b", token)
    with pytest.raises(InvalidInvitation):
        read_invitation("study-a", token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    with pytest.raises(ValueError, match="invitation label"):
        make_invitation("study-a", "not ok!")


def test_command_prints_links_and_each_identifies_one_annotator_on_any_device():
    study = make_study()
    out = io.StringIO()
    call_command(
        "create_invitations",
        study.name,
        "--labels",
        "alice,bob",
        "--base-url",
        "http://h",
        stdout=out,
    )
    links = dict(line.split("\t") for line in out.getvalue().splitlines())
    assert set(links) == {"alice", "bob"}
    path = re.sub(r"^http://h", "", links["alice"])
    laptop, phone = Client(), Client()
    laptop.get(path)
    laptop.post(f"/a/{study.name}/consent/", {"consent": "yes"})
    phone_page = phone.get(path, follow=True).content.decode()
    # The phone continues as the same annotator: consent is already given.
    assert "Instructions" in phone_page
    assert list(Participant.objects.values_list("external_id", "source")) == [
        ("invite:alice", "invite")
    ]


def test_a_forged_or_foreign_link_is_refused_and_creates_nobody():
    study = make_study()
    other = make_study()
    foreign = make_invitation(other.name, "mallory")
    for token in ("garbage", foreign):
        response = Client().get(f"/a/{study.name}/?invite={token}")
        assert response.status_code == 400
        assert "not valid for this study" in response.content.decode()
    assert Participant.objects.count() == 0


def test_command_errors_are_clear():
    study = make_study()
    with pytest.raises(CommandError, match="no study named"):
        call_command("create_invitations", "nope", "--count", "2")
    with pytest.raises(CommandError, match="invitation label"):
        call_command("create_invitations", study.name, "--labels", "a b")
    with pytest.raises(CommandError, match="--count"):
        call_command("create_invitations", study.name, "--count", "0")
