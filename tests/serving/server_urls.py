"""The app's URLs plus /test/hold/: a request that keeps its place for a while.

`?seconds=N` holds one of the process's request slots for N seconds; with `&db=1` it holds a
database connection from the pool too (PostgreSQL's pg_sleep), so the tests can exhaust a
small pool or the request cap on purpose.
"""

import time

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path

from evalsite.urls import urlpatterns as app_urlpatterns


def hold(request: HttpRequest) -> HttpResponse:
    seconds = min(float(request.GET.get("seconds", "1")), 30.0)
    if request.GET.get("db"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(%s)", [seconds])
    else:
        time.sleep(seconds)
    return HttpResponse("held", content_type="text/plain")


urlpatterns = [path("test/hold/", hold), *app_urlpatterns]
