"""The console's Decisions page: a viewer sees one decision per annotator and downloads a
formula-safe CSV; an outsider gets no access."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from annotation.services import get_or_create_participant
from console.models import Role

from .conftest import PASSWORD, member

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_a_viewer_sees_the_decisions_and_a_formula_safe_csv(study) -> None:
    get_or_create_participant(study, "=HYPERLINK(1)", "prolific")
    get_or_create_participant(study, "calm", "prolific")
    client = _client(member(study, "vera", Role.VIEWER))
    page = client.get(f"/console/{study.name}/decisions/")
    assert page.status_code == 200
    assert b"2 approve" in page.content
    study_page = client.get(f"/console/{study.name}/")
    assert b'id="decisions-link"' in study_page.content
    download = client.get(f"/console/{study.name}/decisions/?format=csv")
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert {r["annotator"] for r in rows} == {"'=HYPERLINK(1)", "calm"}
    assert {r["outcome"] for r in rows} == {"approve"}


def test_an_outsider_or_anonymous_visitor_gets_no_access(study, stranger) -> None:
    assert _client(stranger).get(f"/console/{study.name}/decisions/").status_code in (403, 404)
    anonymous = Client().get(f"/console/{study.name}/decisions/?format=csv")
    assert anonymous.status_code == 302


def test_export_decisions_command(study, tmp_path) -> None:
    from django.core.management import CommandError, call_command

    get_or_create_participant(study, "calm", "prolific")
    out = tmp_path / "d.csv"
    call_command("export_decisions", study.name, "--out", str(out))
    rows = list(csv.DictReader(out.open()))
    assert [(r["annotator"], r["outcome"]) for r in rows] == [("calm", "approve")]
    with pytest.raises(CommandError):
        call_command("export_decisions", "no-such-study")
