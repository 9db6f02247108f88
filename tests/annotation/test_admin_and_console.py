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
