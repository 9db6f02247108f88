"""Every console route and WebSocket feed of a study answers a researcher who is not a member
with 404 (pages, downloads, JSON; sockets close with 4404) and an anonymous visitor with the
login page (sockets: 4403) — whatever the method.

The routes are enumerated from console.urls and evalsite.routing, their arguments filled
from a table by converter: a new route is checked without being listed here, so a view
without its permission check fails this test. The non-member's 404 must come from the
permission question (console.access asked about the study), not from a sample argument
that names nothing. Routes that take no study are listed below with what an anonymous
visitor gets; an unlisted one must send anonymous visitors to the login page.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.urls import URLPattern, URLResolver, resolve

import console.urls
from console import access
from console.models import Role, StudyInvitation
from evalsite.routing import websocket_urlpatterns
from generation.models import Dataset, GenerationJob, System

from .conftest import member, researcher

pytestmark = pytest.mark.django_db

STUDY_ARGUMENT = "study_name"

# Routes that take no study: what an anonymous visitor gets (status), by route name.
NOT_OF_A_STUDY = {
    "home": 302,  # to the console, which then asks for a login
    "login": 200,
    "logout": 405,  # POST only
}
# WebSocket routes that take no study: the close code an anonymous visitor gets, and
# whether a logged-in researcher who is a member of nothing may connect.
SOCKETS_NOT_OF_A_STUDY = {
    "ws/generation/<int:job_id>/progress/": (access.SOCKET_LOGIN_REQUIRED, True),
}


@dataclass
class Route:
    route: str  # as written, e.g. "console/<slug:study_name>/members/"
    name: str | None
    callback: object

    def converters(self) -> list[tuple[str, str]]:
        return [(conv or "str", arg) for conv, arg in re.findall(r"<(?:(\w+):)?(\w+)>", self.route)]

    @property
    def of_a_study(self) -> bool:
        return any(arg == STUDY_ARGUMENT for _, arg in self.converters())


def walk(patterns, prefix: str = "") -> list[Route]:
    routes = []
    for p in patterns:
        if isinstance(p, URLResolver):
            routes += walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            routes.append(Route(prefix + str(p.pattern), p.name, p.callback))
    return routes


@pytest.fixture
def world(study):
    """A study with its owner and a pending invitation, a generation job, and a second
    researcher who is a member of nothing."""
    owner = member(study, "olivia", Role.OWNER)
    invitation = StudyInvitation.objects.create(study=study, role=Role.VIEWER, created_by=owner)
    dataset = Dataset.objects.create(name="ds-guard", format="jsonl")
    system = System.objects.create(name="sys-guard", kind="file")
    job = GenerationJob.objects.create(system=system, dataset=dataset)
    return {
        "study": study,
        "owner": owner,
        "stranger": researcher("sam"),
        # samples by argument name, then by converter
        "by_argument": {
            STUDY_ARGUMENT: study.name,
            "user_id": owner.pk,
            "invitation_id": invitation.pk,
            "job_id": job.pk,
        },
    }


SAMPLES_BY_CONVERTER = {"slug": "sample-slug", "str": "sample", "int": 1, "path": "a/b"}


def url_of(route: Route, world) -> str:
    def fill(match: re.Match) -> str:
        conv, arg = match.group(1) or "str", match.group(2)
        if arg in world["by_argument"]:
            return str(world["by_argument"][arg])
        if conv == "uuid":
            return str(uuid.uuid4())
        assert conv in SAMPLES_BY_CONVERTER, (
            f"{route.route}: no sample argument for converter {conv!r}: add one to this test"
        )
        return str(SAMPLES_BY_CONVERTER[conv])

    url = "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route.route)
    assert resolve(url).func == route.callback, f"{url} does not reach the view of {route.route}"
    return url


@pytest.fixture
def questions(monkeypatch):
    """Every (user, study, action) the console asked about during a request."""
    asked = []
    real = access.can

    def recording(user, study, action):
        asked.append((user.pk, study.pk, action))
        return real(user, study, action)

    monkeypatch.setattr(access, "can", recording)
    return asked


HTTP_ROUTES = walk(console.urls.urlpatterns)
STUDY_ROUTES = [r for r in HTTP_ROUTES if r.of_a_study]


def test_the_enumeration_finds_the_study_routes():
    names = {r.name for r in STUDY_ROUTES}
    assert {"console-study", "console-progress", "console-judgments", "console-members"} <= names
    assert len(STUDY_ROUTES) >= 10


def _refused_method(client: Client, method: str, url: str, study_name: str) -> bool:
    """A method the view does not take (405), refused alike for a study that does not
    exist: it says nothing about the study, so it need not be a 404."""
    response = getattr(client, method)(url.replace(study_name, "no-such-study-at-all"))
    return response.status_code == 405


@pytest.mark.parametrize("route", STUDY_ROUTES, ids=lambda r: r.route)
def test_a_researcher_who_is_not_a_member_gets_404(route, world, questions):
    client = Client()
    client.force_login(world["stranger"])
    url = url_of(route, world)
    checked = []
    for method in ("get", "post"):
        questions.clear()
        response = getattr(client, method)(url)
        if response.status_code == 405 and _refused_method(
            client, method, url, world["study"].name
        ):
            continue
        assert response.status_code == 404, f"{method.upper()} {url}: {response.status_code}"
        asked = [(u, s) for u, s, _ in questions]
        assert (world["stranger"].pk, world["study"].pk) in asked, (
            f"{method.upper()} {url}: 404 without asking console.access about the study"
        )
        checked.append(method)
    assert checked, f"{url}: neither GET nor POST reaches the view"


@pytest.mark.parametrize("route", HTTP_ROUTES, ids=lambda r: r.route)
def test_an_anonymous_visitor_is_sent_to_the_login_page(route, world):
    url = url_of(route, world)
    if route.name in NOT_OF_A_STUDY and not route.of_a_study:
        assert Client().get(url).status_code == NOT_OF_A_STUDY[route.name], url
        return
    redirected = []
    for method in ("get", "post"):
        response = getattr(Client(), method)(url)
        if response.status_code == 405:  # decided before anything is looked up
            continue
        assert response.status_code == 302, f"{method.upper()} {url}: {response.status_code}"
        assert response["Location"].startswith(settings.LOGIN_URL + "?next="), url
        redirected.append(method)
    assert redirected, f"{url}: neither GET nor POST asks an anonymous visitor to log in"


def test_the_owner_reaches_every_study_page(world):
    """The samples reach the views: the owner gets no 404 where the stranger got one."""
    client = Client()
    client.force_login(world["owner"])
    for route in STUDY_ROUTES:
        url = url_of(route, world)
        assert client.get(url).status_code != 404, url


WS_ROUTES = [Route(str(p.pattern), None, p.callback) for p in websocket_urlpatterns]


def _socket(url: str, user) -> tuple[bool, int | None]:
    async def attempt():
        communicator = WebsocketCommunicator(URLRouter(websocket_urlpatterns), url)
        communicator.scope["user"] = user
        connected, code = await communicator.connect()
        await communicator.disconnect()
        return connected, code

    return async_to_sync(attempt)()


def _ws_url(route: Route, world) -> str:
    def fill(match: re.Match) -> str:
        conv, arg = match.group(1) or "str", match.group(2)
        return str(world["by_argument"].get(arg, SAMPLES_BY_CONVERTER.get(conv, "sample")))

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", fill, route.route)


@pytest.mark.django_db(transaction=True)  # the consumers read in another thread
@pytest.mark.parametrize("route", WS_ROUTES, ids=lambda r: r.route)
def test_websocket_feeds_refuse_strangers_and_anonymous_visitors(route, world):
    url = _ws_url(route, world)
    if route.of_a_study:
        assert _socket(url, world["stranger"]) == (False, access.SOCKET_NOT_FOUND), url
        assert _socket(url, AnonymousUser()) == (False, access.SOCKET_LOGIN_REQUIRED), url
        assert _socket(url, world["owner"])[0], url
        missing = url.replace(world["study"].name, "no-such-study")
        assert _socket(missing, world["owner"]) == (False, access.SOCKET_NOT_FOUND)
        return
    assert route.route in SOCKETS_NOT_OF_A_STUDY, (
        f"{route.route}: a WebSocket route of no study; list what it answers in this test"
    )
    anonymous_code, researchers_may = SOCKETS_NOT_OF_A_STUDY[route.route]
    assert _socket(url, AnonymousUser()) == (False, anonymous_code), url
    assert _socket(url, world["stranger"])[0] is researchers_may, url
