"""Researchers can look at anything: every model has an admin page; the console shows progress."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from tests.factories import make_study

pytestmark = pytest.mark.django_db


def test_every_model_of_our_apps_is_registered_and_its_pages_load(admin_client):
    make_study()
    for app_label in ("annotation", "generation", "analysis"):
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
            values = {d["key"]: ((17 * i + 7 * entry.position) % 101 if d["type"] == "slider" else True)
                      for d in study.dimensions}
            record_judgment(p, entry_id=entry.id, values=values, rationales={},
                            idempotency_key=f"{i}-{entry.id}", time_on_item_ms=4000)
            assignment.refresh_from_db()
        if i == n_participants - 1:
            request_work(get_or_create_participant(study, "holder", "prolific"))
    return study


def test_study_page_shows_leases_agreement_and_quality_so_far(admin_client):
    study = _demo_with_judgments()
    page = admin_client.get(f"/console/{study.name}/").content.decode()
    assert 'id="leases"' in page and "holder" in page
    assert "P0" in page  # real platform ids in the quality table
    assert 'id="agreement"' in page and "krippendorff_alpha" in page
    assert 'id="annotator-quality"' in page and "median_seconds" in page


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
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows and len(rows) == study.judgments.count() * len(study.dimensions)
    archive = zipfile.ZipFile(io.BytesIO(admin_client.get(f"/console/{study.name}/results.zip").content))
    names = archive.namelist()
    assert f"{study.name}-results/summary.csv" in names
    assert f"{study.name}-results/report.md" in names
    assert any(n.endswith(".png") for n in names)
