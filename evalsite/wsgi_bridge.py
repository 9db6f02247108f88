"""Django's WSGI handler under ASGI: one hand-off to a thread and one back per request.

Why hand-written (a2wsgi does the general job, and still builds the environ here): a2wsgi
waits on the event loop from the request's thread once to read the body and three times to
send a response (its start, its body, its end), each a round trip between two threads for
the GIL. Measured on the production command (bench/RESULTS.md), that was a third of the
server's time for a small POST. Here a body of known, bounded length is read in the event
loop before the thread starts, and a response that is not streaming (every page of the app)
comes back from the thread whole, in the same hand-off that ends the request. A streaming
response (the judgments CSV, static files) and a large or chunked request body still cross
part by part, with the transport's back-pressure, so neither is held in memory.

The threads are a fixed pool, as many as the request cap admits (evalsite/asgi.py), named
"WSGI…".
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import sys
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import build_environ

Scope = dict[str, Any]
Receive = Callable[[], Coroutine[Any, Any, dict[str, Any]]]
Send = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Bodies up to this size (with a Content-Length) are read before the thread starts: every
#: form of the app; an upload beyond it streams into the thread as it arrives.
READ_AHEAD_BYTES = 256 * 1024


class _Disconnected(Exception):
    """The client went away before its request body was complete."""


class _StreamedBody(io.RawIOBase):
    """wsgi.input that asks the event loop for each further part of the body."""

    def __init__(self, loop: asyncio.AbstractEventLoop, receive: Receive) -> None:
        self.loop = loop
        self.receive = receive
        self.buffer = bytearray()
        self.more = True

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        message = asyncio.run_coroutine_threadsafe(self.receive(), self.loop).result()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        self.buffer.extend(message.get("body", b""))
        self.more = message.get("more_body", False)

    def read(self, size: int | None = -1) -> bytes:
        while self.more and (size is None or size < 0 or len(self.buffer) < size):
            self._fill()
        n = len(self.buffer) if size is None or size < 0 else min(size, len(self.buffer))
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def readline(self, size: int | None = -1) -> bytes:
        def wanted() -> bool:
            return b"\n" not in self.buffer and (
                size is None or size < 0 or len(self.buffer) < size
            )

        while self.more and wanted():
            self._fill()
        end = self.buffer.find(b"\n") + 1 or len(self.buffer)
        if size is not None and size >= 0:
            end = min(end, size)
        data = bytes(self.buffer[:end])
        del self.buffer[:end]
        return data


async def _read_ahead(scope: Scope, receive: Receive) -> bytes | None:
    """The whole body when its length is known and small (b"" for none), else None."""
    length = None
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return None
    if scope["method"] in ("GET", "HEAD") and length is None:
        length = 0
    if length is None or length > READ_AHEAD_BYTES:
        return None
    if length == 0:
        return b""
    parts = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts)


class WSGIBridge:
    """An ASGI app (HTTP only) running `app` on a pool of `threads` threads."""

    def __init__(self, app: WSGIApp, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="WSGI")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http", scope["type"]
        loop = asyncio.get_running_loop()
        try:
            body = await _read_ahead(scope, receive)
        except _Disconnected:
            return
        stream = io.BytesIO(body) if body is not None else _StreamedBody(loop, receive)
        environ: dict[str, Any] = dict(build_environ(scope, stream))  # type: ignore[arg-type]
        environ["wsgi.input"] = stream
        environ["wsgi.errors"] = sys.stderr
        context = contextvars.copy_context()
        try:
            start, parts = await loop.run_in_executor(
                self.executor, functools.partial(context.run, self._run, environ, loop, send)
            )
        except _Disconnected:
            return
        if start is not None:  # a whole response: sent here, in the loop
            await send(start)
            for part in parts[:-1]:
                await send({"type": "http.response.body", "body": part, "more_body": True})
            await send({"type": "http.response.body", "body": parts[-1] if parts else b""})

    def _run(
        self, environ: dict[str, Any], loop: asyncio.AbstractEventLoop, send: Send
    ) -> tuple[dict[str, Any] | None, list[bytes]]:
        """In a pool thread: the response's start and parts, or (None, []) when it was
        streamed from here already."""
        head: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None and head.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            head["start"] = {
                "type": "http.response.start",
                "status": int(status.split(" ", 1)[0]),
                "headers": [
                    (name.strip().lower().encode("latin1"), value.strip().encode("latin1"))
                    for name, value in headers
                ],
            }
            return write

        def to_loop(message: dict[str, Any]) -> None:
            asyncio.run_coroutine_threadsafe(send(message), loop).result()

        def write(data: bytes) -> None:  # the legacy WSGI write(): sent as it comes
            if not head.get("sent"):
                to_loop(head["start"])
                head["sent"] = True
            to_loop({"type": "http.response.body", "body": data, "more_body": True})

        iterable = self.app(environ, start_response)
        try:
            if not getattr(iterable, "streaming", False) and not head.get("sent"):
                return head["start"], [bytes(part) for part in iterable]
            if not head.get("sent"):
                to_loop(head["start"])
                head["sent"] = True
            for part in iterable:
                to_loop({"type": "http.response.body", "body": part, "more_body": True})
            to_loop({"type": "http.response.body", "body": b""})
            return None, []
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
