"""The admin never offers a form that cannot work: a study (and its design, assignments and
judgments) is made by the app from a spec, so there is no add page for it; a study's fields
that come from its spec are read-only; no admin add page of the app answers 500."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse

from annotation.models import (
    Assignment,
    Batch,
    BatchEntry,
    BatchSlot,
    Item,
    Judgment,
    Participant,
    Study,
)
from tests.factories import make_study

pytestmark = pytest.mark.django_db

MADE_BY_THE_APP = [Study, Item, Batch, BatchEntry, BatchSlot, Assignment, Judgment]


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:annotation_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def staff_client(client):
    """A staff user (not a superuser) with every permission of the annotation app."""
    user = get_user_model().objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="annotation"))
    client.force_login(user)
    return client


@pytest.mark.parametrize("who", ["admin_client", "staff_client"])
def test_the_study_add_page_is_not_offered(request, who):
    web = request.getfixturevalue(who)
    make_study()
    add_url = _url(Study, "add")
    assert web.get(add_url).status_code == 403
    changelist = web.get(_url(Study, "changelist")).content.decode()
    assert add_url not in changelist
    assert "create_study SPEC.yaml" in changelist  # says how a study is made instead
    assert add_url not in web.get(reverse("admin:index")).content.decode()


def test_posting_the_old_add_form_creates_nothing_and_does_not_crash(admin_client):
    # What gave "NOT NULL constraint failed: annotation_study.spec" (a 500) before.
    answer = admin_client.post(
        _url(Study, "add"),
        {
            "name": "by-hand",
            "title": "By hand",
            "protocol": "rating",
            "status": "open",
            "lease_minutes": 60,
            "overlap": 3,
            "_save": "Save",
        },
    )
    assert answer.status_code == 403
    assert not Study.objects.filter(name="by-hand").exists()


def test_the_change_form_renders_with_the_spec_fields_read_only(admin_client):
    from annotation.study_builder import build_study

    study = build_study(Path(settings.BASE_DIR) / "examples" / "demo_rating.yaml").study
    page = admin_client.get(_url(Study, "change", study.pk))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert list(form.fields) == ["status"]  # the one field a researcher may change here
    text = page.content.decode()
    assert study.name in text and study.spec_hash in text
    assert "create_study SPEC.yaml" in text


def test_posting_a_change_cannot_alter_what_comes_from_the_spec(admin_client):
    study = make_study()
    before = Study.objects.values().get(pk=study.pk)
    answer = admin_client.post(
        _url(Study, "change", study.pk),
        {
            "name": "renamed",
            "title": "Renamed",
            "protocol": "pairwise",
            "overlap": 9,
            "lease_minutes": 1,
            "spec": json.dumps({"name": "renamed"}),
            "spec_hash": "forged",
            "spec_source": "name: renamed",
            "design_report": "{}",
            "status": "closed",
            "_save": "Save",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    after = Study.objects.values().get(pk=study.pk)
    assert after["status"] == "closed"
    assert {k: v for k, v in after.items() if k != "status"} == {
        k: v for k, v in before.items() if k != "status"
    }


@pytest.mark.parametrize("model", MADE_BY_THE_APP, ids=lambda m: m.__name__)
def test_what_the_app_makes_has_no_add_page_and_a_note_why(admin_client, model):
    make_study()
    add_url = _url(model, "add")
    assert admin_client.get(add_url).status_code == 403
    assert admin_client.post(add_url, {}).status_code == 403
    changelist = admin_client.get(_url(model, "changelist"))
    assert changelist.status_code == 200
    assert add_url not in changelist.content.decode()
    assert changelist.context["subtitle"]  # the note saying where these come from


def test_every_annotation_add_page_survives_a_get_and_an_empty_post(admin_client):
    make_study()
    admin_client.raise_request_exception = False  # a crash shows as a 500 here, not an exception
    for model in list(admin.site._registry):
        if model._meta.app_label != "annotation":
            continue
        add_url = _url(model, "add")
        count = model.objects.count()
        shown, posted = admin_client.get(add_url), admin_client.post(add_url, {})
        assert shown.status_code in (200, 403), (model.__name__, shown.status_code)
        assert posted.status_code in (200, 403), (model.__name__, posted.status_code)
        if shown.status_code == 200:  # an add form that is offered reports what is missing
            assert posted.context["errors"], model.__name__
        assert model.objects.count() == count, model.__name__


def test_participants_can_still_be_added_by_hand(admin_client):
    study = make_study()
    answer = admin_client.post(
        _url(Participant, "add"),
        {
            "study": study.pk,
            "external_id": "lab-7",
            "source": "invite",
            "_save": "Save",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    assert Participant.objects.filter(study=study, external_id="lab-7").exists()


def test_a_batch_page_offers_no_new_entries_or_slots(admin_client):
    study = make_study()
    batch = study.batches.first()
    page = admin_client.get(reverse("admin:annotation_batch_change", args=[batch.pk]))
    assert page.status_code == 200
    inlines = page.context["inline_admin_formsets"]
    assert {i.opts.model for i in inlines} == {BatchEntry, BatchSlot}
    assert all(not i.has_add_permission for i in inlines)


def test_design_rows_and_leases_are_shown_read_only(admin_client):
    """Items, batches, entries, slots and leases keep the design's guarantees: their change
    pages show them, a POST changes nothing, and nothing is deleted from the admin."""
    from annotation.assignment import request_work
    from annotation.services import get_or_create_participant

    study = make_study(n_batches=1, slots=1)
    request_work(get_or_create_participant(study, "p", "prolific"))
    for model in (Item, Batch, BatchEntry, BatchSlot, Assignment):
        row = model.objects.first()
        url = _url(model, "change", row.pk)
        assert admin_client.get(url).status_code == 200, model.__name__
        assert admin_client.post(url, {}).status_code == 403, model.__name__
        assert admin_client.post(_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    slot = BatchSlot.objects.get()
    assert slot.state == BatchSlot.State.LEASED


def test_a_study_cannot_be_set_back_to_draft_in_the_admin(admin_client):
    study = make_study()
    page = admin_client.get(_url(Study, "change", study.pk)).content.decode()
    assert 'value="open"' in page and 'value="draft"' not in page
