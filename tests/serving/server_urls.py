"""The app's URLs plus three test views.

/test/hold/: a request that keeps its place for a while. `?seconds=N` holds one of the
process's request slots for N seconds; with `&db=1` it holds a database connection from the
pool too (PostgreSQL's pg_sleep), so the tests can exhaust a small pool or the request cap on
purpose.

/test/thread/: the name of the thread serving the request and the process id.

/test/echo/: the length and SHA-256 of the request body (POST, no CSRF check), read as
Django's request.body reads it.

/test/stream/?signal=PATH: a streaming response whose second part is produced only once the
client has read the first (the test creates PATH then): a buffered response would never
send its first part in time, and says "buffered" instead.
"""

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from evalsite.urls import urlpatterns as app_urlpatterns


def hold(request: HttpRequest) -> HttpResponse:
    seconds = min(float(request.GET.get("seconds", "1")), 30.0)
    if request.GET.get("db"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(%s)", [seconds])
    else:
        time.sleep(seconds)
    return HttpResponse("held", content_type="text/plain")


def thread(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"thread": threading.current_thread().name, "pid": os.getpid()})


@csrf_exempt
def echo(request: HttpRequest) -> JsonResponse:
    body = request.body
    return JsonResponse({"length": len(body), "sha256": hashlib.sha256(body).hexdigest()})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    signal = Path(request.GET["signal"])

    def parts() -> Iterator[str]:
        yield "first\n"
        deadline = time.monotonic() + 20
        while not signal.exists():
            if time.monotonic() > deadline:
                yield "buffered\n"
                return
            time.sleep(0.05)
        yield "second\n"

    return StreamingHttpResponse(parts(), content_type="text/plain")


urlpatterns = [
    path("test/hold/", hold),
    path("test/thread/", thread),
    path("test/echo/", echo),
    path("test/stream/", stream),
    *app_urlpatterns,
]
