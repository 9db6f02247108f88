"""Researchers can look at anything: every model has an admin page; the console shows progress."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.factories import make_study

pytestmark = pytest.mark.django_db


def test_every_model_of_our_apps_is_registered_and_its_pages_load(admin_client):
    make_study()
    for app_label in ("annotation", "generation", "analysis", "console"):
        for model in apps.get_app_config(app_label).get_models():
            assert admin.site.is_registered(model), f"{model.__name__} is not in the admin"
            url = reverse(f"admin:{app_label}_{model._meta.model_name}_changelist")
            assert admin_client.get(url).status_code == 200, url
            obj = model.objects.first()
            if obj is not None:
                url = reverse(f"admin:{app_label}_{model._meta.model_name}_change", args=[obj.pk])
                assert admin_client.get(url).status_code == 200, url


def test_console_shows_studies_and_progress(admin_client, client):
    study = make_study()
    assert client.get("/console/").status_code == 302  # researchers only
    page = admin_client.get("/console/").content.decode()
    assert study.name in page and f"/a/{study.name}/" in page
    detail = admin_client.get(f"/console/{study.name}/").content.decode()
    assert "PROLIFIC_PID={{%PROLIFIC_PID%}}" in detail
    progress = admin_client.get(f"/console/{study.name}/progress.json").json()
    assert progress["slots"] == {"total": 4, "completed": 0, "leased": 0, "free": 4}


def _demo_with_judgments(n_participants=3):
    from pathlib import Path

    from django.conf import settings

    from annotation.assignment import request_work
    from annotation.services import get_or_create_participant, next_entry, record_judgment
    from annotation.study_builder import build_study

    study = build_study(Path(settings.BASE_DIR) / "examples" / "demo_rating.yaml").study
    for i in range(n_participants):
        p = get_or_create_participant(study, f"P{i}", "prolific")
        assignment = request_work(p).assignment
        while (entry := next_entry(assignment)) is not None:
            values = {
                d["key"]: ((17 * i + 7 * entry.position) % 101 if d["type"] == "slider" else True)
                for d in study.dimensions
            }
            record_judgment(
                p,
                entry_id=entry.id,
                values=values,
                rationales={},
                idempotency_key=f"{i}-{entry.id}",
                time_on_item_ms=4000,
            )
            assignment.refresh_from_db()
        if i == n_participants - 1:
            request_work(get_or_create_participant(study, "holder", "prolific"))
    return study


def _console_table(page: str, table_id: str) -> tuple[list[list[str]], dict[str, str]]:
    """Rows of cell texts (header first; a footnote marker is appended to its cell as
    "^a") of the console table ``table_id``, and its footnotes {marker: text}."""
    from html.parser import HTMLParser

    class Reader(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.notes, self.where, self.cell, self.note = [], {}, None, None, None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "table":
                self.where = "table" if attrs.get("id") == table_id else None
            elif tag == "ul":
                self.where = "notes" if attrs.get("id") == f"{table_id}-notes" else None
            elif self.where == "table" and tag == "tr":
                self.rows.append([])
            elif self.where == "table" and tag in ("td", "th"):
                self.cell = ""
            elif self.where == "table" and tag == "sup" and self.cell is not None:
                self.cell += "^"
            elif self.where == "notes" and tag == "li":
                self.note = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                self.rows[-1].append(self.cell.strip())
                self.cell = None
            elif tag == "li" and self.note is not None:
                marker, _, text = self.note.strip().partition(" ")
                self.notes[marker] = text
                self.note = None
            elif tag in ("table", "ul"):
                self.where = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data
            elif self.note is not None:
                self.note += data

    reader = Reader()
    reader.feed(page)
    return reader.rows, reader.notes


def test_study_page_shows_leases_agreement_and_quality_so_far(admin_client):
    study = _demo_with_judgments()
    page = admin_client.get(f"/console/{study.name}/").content.decode()
    assert 'id="leases"' in page and "holder" in page
    assert "P0" in page  # real platform ids in the quality table
    assert "True" not in page and "False" not in page  # booleans read Yes / No

    rows, notes = _console_table(page, "agreement")
    header, body = rows[0], rows[1:]
    assert header[:3] == ["Dimension", "Metric", "Value"]
    # dimensions by their spec labels, metrics in words
    labels = {d["label"] for d in study.dimensions}
    assert {r[0] for r in body} == labels
    assert "emotion_understanding" not in page.split('id="agreement"')[1].split("</table>")[0]
    assert "Krippendorff's α" in {r[1] for r in body}
    # a checkbox dimension gets nominal alpha and Fleiss' kappa, no ICC (interval) rows
    checkbox = [r for r in body if r[0] == "Understandable and consistent"]
    assert [r[1] for r in checkbox] == [
        "Krippendorff's α",
        "Fleiss' κ",
        "Free-marginal κ (Randolph)",
    ]
    assert {r[header.index("Level")] for r in checkbox} == {"nominal"}
    # every missing value says why (here: no item has a second rating yet; alpha and
    # kappa have no interval)
    dashes = [cell for r in body for cell in r if cell.startswith("–")]
    assert dashes and all(cell.startswith("–^") for cell in dashes)
    assert {cell.removeprefix("–^") for cell in dashes} <= set(notes)
    assert all(text.strip(". ") for text in notes.values())
    assert any("2 ratings" in text for text in notes.values())

    rows, notes = _console_table(page, "annotator-quality")
    header, body = rows[0], rows[1:]
    assert "Median s" in header and "Flagged" in header and "median_seconds" not in header
    flagged = header.index("Flagged")
    assert {r[flagged] for r in body} <= {"Yes", "No"} and body
    assert all(cell.removeprefix("–^") in notes for r in body for cell in r if cell.startswith("–"))


def test_study_page_before_any_judgment_says_why_there_are_no_figures(admin_client):
    study = make_study()
    page = admin_client.get(f"/console/{study.name}/").content.decode()
    assert "no analysis until at least two judgments are in" in page


def test_downloads_of_judgments_and_results_bundle(admin_client, client):
    import csv
    import io
    import zipfile

    study = _demo_with_judgments()
    assert client.get(f"/console/{study.name}/results.zip").status_code == 302  # staff only
    response = admin_client.get(f"/console/{study.name}/judgments.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows and len(rows) == study.judgments.count() * len(study.dimensions)
    archive = zipfile.ZipFile(
        io.BytesIO(admin_client.get(f"/console/{study.name}/results.zip").content)
    )
    names = archive.namelist()
    assert f"{study.name}-results/summary.csv" in names
    assert f"{study.name}-results/report.md" in names
    assert any(n.endswith(".png") for n in names)
