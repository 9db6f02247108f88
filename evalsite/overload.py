"""Serving under load: a bounded number of requests per process, and a "busy" page, not a 500.

Three pieces, one page:

- `RequestCap` (ASGI, evalsite/asgi.py): at most MAX_CONCURRENT_REQUESTS requests run Django
  at once in this process; the others wait their turn (first come, first served) for up to
  REQUEST_QUEUE_SECONDS, then get the busy page. A request that waits holds no thread and no
  database connection, so a burst queues instead of opening one PostgreSQL connection each.
- `OverloadMiddleware` (Django): a view that still finds no database connection (the pool's
  timeout, PostgreSQL's "too many clients") answers with the same busy page instead of a 500.
- `CloseWebSocketOnOverload` (ASGI): the same for a WebSocket, closed with 1013 "try again
  later" (the console's progress then falls back to polling its JSON).

The busy page is a 503 with Retry-After that retries by itself: a GET reloads after a few
seconds; a POST is sent again with the same form fields (the CSRF token and the judgment's
idempotency key among them, so a replay is saved once). JSON clients get a 503 JSON body.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Words of PostgreSQL's and psycopg's refusals that mean "no connection for you now".
OVERLOAD_MESSAGES = (
    "too many clients",
    "remaining connection slots are reserved",
    "couldn't get a connection",  # psycopg_pool.PoolTimeout
)
# A POST body larger than this is not echoed back into the busy page (it is not re-sent).
MAX_REPLAYED_BODY = 1024 * 1024
# Served without the cap: they never touch the database.
EXEMPT_PREFIXES = ("/static/", "/favicon.")


def is_overload(error: BaseException) -> bool:
    """Whether `error` (or what caused it) says the database had no connection to give."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == "PoolTimeout":
            return True
        if isinstance(current, OperationalError) or type(current).__name__ == "OperationalError":
            text = str(current).lower()
            if any(words in text for words in OVERLOAD_MESSAGES):
                return True
        current = current.__cause__ or current.__context__
    return False


def wants_json(path: str, accept: str) -> bool:
    return path.endswith(".json") or ("application/json" in accept and "text/html" not in accept)


def busy_body(
    *,
    method: str,
    fields: Iterable[tuple[str, str]] | None,
    as_json: bool,
    retry_seconds: int,
    csp_nonce: str = "",
) -> tuple[bytes, str]:
    """The busy answer's body and content type: the retrying page, or JSON.

    `fields` are the POST's form fields to send again (None: the body could not be kept, so
    the page asks the annotator to go back and send the form again)."""
    if as_json:
        body = {
            "error": "busy",
            "detail": "The server is busy; try again.",
            "retry_after": retry_seconds,
        }
        return json.dumps(body).encode(), "application/json"
    page = render_to_string(
        "busy.html",
        {
            "method": method,
            "fields": list(fields) if fields is not None else None,
            "retry_seconds": retry_seconds,
            "csp_nonce": csp_nonce,
        },
    )
    return page.encode(), "text/html; charset=utf-8"


def _busy_headers(retry_seconds: int) -> dict[str, str]:
    return {"Cache-Control": "no-store", "Retry-After": str(retry_seconds)}


# --- Django: a view that finds no connection -------------------------------------------------


def _csp_nonce(request: HttpRequest) -> str:
    """The request's Content-Security-Policy nonce (django-csp), made now so that the header
    allows the busy page's script; "" without CSP. (Its lazy object is falsy until used.)"""
    nonce = getattr(request, "csp_nonce", None)
    return str(nonce) if nonce is not None else ""


def busy_response(request: HttpRequest) -> HttpResponse:
    """The busy page (or JSON) for a Django request; a form POST's fields go back into it
    (a multipart one is not re-sent: its files could not be)."""
    fields: list[tuple[str, str]] | None = None
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        try:
            fields = [(key, value) for key, values in request.POST.lists() for value in values]
        except Exception:  # noqa: BLE001 - an unreadable body is simply not re-sent
            fields = None
    body, content_type = busy_body(
        method=request.method or "GET",
        fields=fields,
        as_json=wants_json(request.path, request.headers.get("Accept", "")),
        retry_seconds=settings.BUSY_RETRY_SECONDS,
        csp_nonce=_csp_nonce(request),
    )
    response = HttpResponse(body, content_type=content_type, status=503)
    for name, value in _busy_headers(settings.BUSY_RETRY_SECONDS).items():
        response[name] = value
    return response


class OverloadMiddleware:
    """Turns "no database connection now" raised by a view into the busy page (503)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_overload(exception):
            return None
        logger.warning("busy: no database connection for %s %s", request.method, request.path)
        return busy_response(request)


# --- ASGI: the cap on concurrent requests ----------------------------------------------------


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit` (the rest is drained)."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks) if size <= limit else None


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


async def send_busy(scope: Scope, receive: Receive, send: Send, retry_seconds: int) -> None:
    """Answer an HTTP request with the busy page (503) without running Django."""
    method = scope.get("method", "GET")
    fields: list[tuple[str, str]] | None = None
    if method == "POST":
        body = await _read_body(receive, MAX_REPLAYED_BODY)
        form = _header(scope, b"content-type").startswith("application/x-www-form-urlencoded")
        if body is not None and form:
            fields = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    content, content_type = busy_body(
        method=method,
        fields=fields,
        as_json=wants_json(scope.get("path", ""), _header(scope, b"accept")),
        retry_seconds=retry_seconds,
    )
    headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(content))]
    headers += [(k.lower().encode(), v.encode()) for k, v in _busy_headers(retry_seconds).items()]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": content})


class RequestSlots:
    """`limit` slots handed out first come, first served, on one event loop.

    A released slot goes straight to the longest waiter; a waiter whose time is up gets
    none. (Plain futures and a timer rather than asyncio.wait_for over a Semaphore: on
    Python 3.11 a timeout racing a hand-over can lose the slot.)"""

    def __init__(self, limit: int):
        self.free = limit
        self._waiters: deque[asyncio.Future[bool]] = deque()

    async def enter(self, wait_seconds: float) -> bool:
        """True with a slot (leave() it after), False when none came within wait_seconds."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        loop = asyncio.get_running_loop()
        handed: asyncio.Future[bool] = loop.create_future()
        self._waiters.append(handed)

        def time_up() -> None:
            if not handed.done():
                handed.set_result(False)

        timer = loop.call_later(wait_seconds, time_up)
        try:
            return await asyncio.shield(handed)
        except asyncio.CancelledError:
            if handed.done() and handed.result():
                self.leave()  # handed a slot as the request went away: pass it on
            else:
                handed.cancel()
            raise
        finally:
            timer.cancel()

    def leave(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # not timed out, not gone
                waiter.set_result(True)
                return
        self.free += 1


class RequestCap:
    """At most `limit` HTTP requests inside `app` at once; the rest wait up to `wait_seconds`
    (in order of arrival), then get the busy page. `limit` 0 turns the cap off."""

    def __init__(self, app: ASGIApp, *, limit: int, wait_seconds: float, retry_seconds: int):
        self.app = app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.retry_seconds = retry_seconds
        self._slots_by_loop: dict[asyncio.AbstractEventLoop, RequestSlots] = {}

    def _slots(self) -> RequestSlots:
        loop = asyncio.get_running_loop()  # one event loop per worker; tests make several
        if loop not in self._slots_by_loop:
            self._slots_by_loop = {loop: RequestSlots(self.limit)}
        return self._slots_by_loop[loop]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.limit <= 0
            or scope.get("path", "").startswith(EXEMPT_PREFIXES)
        ):
            return await self.app(scope, receive, send)
        slots = self._slots()
        if not await slots.enter(self.wait_seconds):
            logger.warning(
                "busy: %s %s waited %.1f s for one of %d request slots",
                scope.get("method"),
                scope.get("path"),
                self.wait_seconds,
                self.limit,
            )
            return await send_busy(scope, receive, send, self.retry_seconds)
        try:
            await self.app(scope, receive, send)
        finally:
            slots.leave()


class CloseWebSocketOnOverload:
    """A WebSocket whose consumer finds no database connection is closed with 1013 ("try
    again later") instead of failing with an internal error."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except Exception as error:
            if not is_overload(error):
                raise
            logger.warning("busy: WebSocket %s closed, no database connection", scope.get("path"))
            await send({"type": "websocket.close", "code": 1013})


def cap_from_settings(app: ASGIApp) -> ASGIApp:
    """`app` behind the request cap configured in settings (evalsite/settings.py, serving)."""
    return RequestCap(
        app,
        limit=settings.MAX_CONCURRENT_REQUESTS,
        wait_seconds=settings.REQUEST_QUEUE_SECONDS,
        retry_seconds=settings.BUSY_RETRY_SECONDS,
    )
