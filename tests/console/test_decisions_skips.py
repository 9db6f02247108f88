"""Skipped items on the console's Decisions page: a count per annotator (page and decisions
CSV) and the skips as their own formula-safe CSV (annotation.export.skip_rows)."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client
from django.utils import timezone

from annotation import hot_path, safety
from annotation.assignment import request_work
from annotation.export import SKIP_COLUMNS, skip_rows
from annotation.services import get_or_create_participant
from console.models import Role

from .conftest import PASSWORD, member

pytestmark = pytest.mark.django_db


def _skip_first(participant) -> None:
    work = request_work(participant)
    entry = hot_path.next_entries(work.assignment, limit=1)[0]
    assert safety.skip_item(participant, entry.id, timezone.now()).code == "skipped"


def test_skips_are_counted_per_annotator_and_downloaded_as_their_own_csv(study) -> None:
    skipper = get_or_create_participant(study, "=HYPERLINK(1)", "prolific")
    get_or_create_participant(study, "calm", "prolific")
    _skip_first(skipper)
    client = Client()
    assert client.login(username=member(study, "vera", Role.VIEWER).username, password=PASSWORD)
    page = client.get(f"/console/{study.name}/decisions/").content.decode()
    assert "1 item skipped" in page and 'id="skips-csv"' in page
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/console/{study.name}/decisions/?format=csv").content.decode())
        )
    )
    assert {r["annotator"]: r["items_skipped"] for r in rows} == {
        "'=HYPERLINK(1)": "1",
        "calm": "0",
    }
    download = client.get(f"/console/{study.name}/decisions/?format=skips")
    assert download["Content-Disposition"].endswith(f'filename="{study.name}-skips.csv"')
    skips = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert len(skips) == 1 and list(skips[0]) == SKIP_COLUMNS
    (skip,) = skips
    assert skip["annotator"] == "'=HYPERLINK(1)"  # formula-escaped
    assert skip["reason"] == "distressing" and skip["control"] == ""
    assert skip["reassigned_to_batch"] != ""  # a real item's output went to someone else
    # pseudonymised like the judgments export by default
    (plain,) = skip_rows(study, salt="s")
    assert plain["annotator"].startswith("a-") and plain["output"] == skip["output"]
