"""Who may call what: every route of the API refuses a request without a valid token (401),
and every route of a study answers another researcher's token with 404 — asked of
console.access, as the pages ask. The routes are enumerated from the API itself, so a new
endpoint without its check fails here without being listed."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from api.models import ApiToken, token_hash
from console import access
from console.models import Role, StudyMembership
from generation.models import Dataset, GenerationJob, System
from tests.factories import make_study

from .conftest import researcher, token_client
from .test_openapi import operations

pytestmark = pytest.mark.django_db

STUDY_ROUTES = sorted(op for op in operations() if "{name}" in op[1])
OTHER_ROUTES = sorted(op for op in operations() if "{name}" not in op[1])


@pytest.fixture
def world():
    study = make_study(n_batches=1, slots=1)
    owner = researcher("olivia")
    StudyMembership.objects.create(study=study, user=owner, role=Role.OWNER)
    dataset = Dataset.objects.create(name="ds-guard", format="jsonl")
    system = System.objects.create(name="sys-guard", kind="imported")
    job = GenerationJob.objects.create(system=system, dataset=dataset)
    return {"study": study, "owner": owner, "job": job}


def url_of(path: str, world) -> str:
    return path.replace("{name}", world["study"].name).replace("{job_id}", str(world["job"].pk))


# A well-formed body for the study routes that take one: a malformed body is refused (422)
# before the study is looked up, alike for every study, so it would test nothing.
BODIES = {"/api/studies/{name}/status": {"action": "pause"}}


def call(client: Client, method: str, url: str, path: str = ""):
    if method == "GET":
        return client.get(url)
    return client.post(url, BODIES.get(path, {}), content_type="application/json")


@pytest.fixture
def questions(monkeypatch):
    """Every (user, study, action) console.access was asked during a request."""
    asked = []
    real = access.can

    def recording(user, study, action):
        asked.append((user.pk, study.pk, action))
        return real(user, study, action)

    monkeypatch.setattr(access, "can", recording)
    return asked


def test_the_enumeration_finds_the_routes():
    assert len(STUDY_ROUTES) >= 5 and len(OTHER_ROUTES) >= 10


@pytest.mark.parametrize("route", STUDY_ROUTES + OTHER_ROUTES, ids=" ".join)
def test_no_token_is_a_401(route, world):
    method, path = route
    response = call(Client(), method, url_of(path, world))
    assert response.status_code == 401, f"{method} {path}: {response.status_code}"


@pytest.mark.parametrize("route", STUDY_ROUTES + OTHER_ROUTES, ids=" ".join)
def test_a_revoked_or_unknown_token_is_a_401(route, world):
    method, path = route
    client = token_client(world["owner"])
    ApiToken.objects.filter(user=world["owner"]).update(revoked_at="2030-01-01T00:00Z")
    assert call(client, method, url_of(path, world)).status_code == 401, path
    unknown = Client(headers={"Authorization": "Bearer evs_not-a-token"})
    assert call(unknown, method, url_of(path, world)).status_code == 401, path


@pytest.mark.parametrize("route", STUDY_ROUTES, ids=" ".join)
def test_another_researchers_token_gets_404_for_a_study_not_theirs(route, world, questions):
    method, path = route
    stranger = researcher("sam")
    response = call(token_client(stranger), method, url_of(path, world), path)
    assert response.status_code != 422, f"{method} {path}: 422; add a sample body to BODIES"
    assert response.status_code == 404, f"{method} {path}: {response.status_code}"
    assert (stranger.pk, world["study"].pk) in [(u, s) for u, s, _ in questions], (
        f"{method} {path}: 404 without asking console.access about the study"
    )
    # the owner reaches it (so the 404 was the permission's, not a wrong sample URL)
    owner = call(token_client(world["owner"]), method, url_of(path, world), path)
    assert owner.status_code != 404


def test_a_viewer_may_look_but_not_change_the_status(world):
    viewer = researcher("vera")
    StudyMembership.objects.create(study=world["study"], user=viewer, role=Role.VIEWER)
    client = token_client(viewer)
    name = world["study"].name
    assert client.get(f"/api/studies/{name}/progress").status_code == 200
    changed = client.post(
        f"/api/studies/{name}/status", {"action": "pause"}, content_type="application/json"
    )
    assert changed.status_code == 404
    world["study"].refresh_from_db()
    assert world["study"].status == "open"


def test_the_list_holds_only_the_callers_studies(world):
    make_study(n_batches=1, slots=1)  # a study of nobody here
    listed = token_client(world["owner"]).get("/api/studies").json()
    assert [s["name"] for s in listed] == [world["study"].name]
    assert listed[0]["role"] == "owner"
    assert token_client(researcher("sam")).get("/api/studies").json() == []


def test_a_token_acts_as_its_user_and_records_its_use(world):
    client = token_client(world["owner"], "notebook")
    row = ApiToken.objects.get(user=world["owner"], name="notebook")
    assert row.last_used_at is None
    assert client.get("/api/studies").status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None
    world["owner"].is_active = False
    world["owner"].save()
    assert client.get("/api/studies").status_code == 401  # a disabled account's tokens stop


def test_the_tokens_page_shows_a_token_once_stores_its_hash_and_revokes_it(world):
    client = Client()
    client.force_login(world["owner"])
    page = client.get(reverse("api-tokens"))
    assert page.status_code == 200 and "You have no tokens yet" in page.content.decode()
    made = client.post(reverse("api-tokens"), {"name": "lab server"}, follow=True)
    html = made.content.decode()
    token = html.split('id="new-token-value">')[1].split("<")[0]
    assert token.startswith("evs_") and len(token) > 40
    row = ApiToken.objects.get(user=world["owner"])
    assert row.token_hash == token_hash(token) and token not in (row.shown, row.token_hash)
    assert token not in client.get(reverse("api-tokens")).content.decode()  # shown once
    api = Client(headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/studies").status_code == 200
    # another researcher cannot revoke it
    other = Client()
    other.force_login(researcher("sam"))
    other.post(reverse("api-token-revoke", args=[row.pk]))
    assert api.get("/api/studies").status_code == 200
    client.post(reverse("api-token-revoke", args=[row.pk]))
    assert api.get("/api/studies").status_code == 401
    assert "revoked" in client.get(reverse("api-tokens")).content.decode()


def test_the_tokens_page_wants_a_name_and_a_login(world):
    client = Client()
    assert client.get(reverse("api-tokens")).status_code == 302
    assert client.post(reverse("api-token-revoke", args=[1])).status_code == 302
    client.force_login(world["owner"])
    refused = client.post(reverse("api-tokens"), {"name": "  "})
    assert refused.status_code == 400 and "name: say what" in refused.content.decode()
    assert not ApiToken.objects.exists()


def test_the_browser_session_works_too_with_its_csrf_check(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["owner"])
    name = world["study"].name
    assert client.get(f"/api/studies/{name}/progress").status_code == 200
    refused = client.post(
        f"/api/studies/{name}/status", {"action": "pause"}, content_type="application/json"
    )
    assert refused.status_code in (401, 403)
    world["study"].refresh_from_db()
    assert world["study"].status == "open"
