"""The app's URLs plus the bare view bench/serving.py compares the judgment cycle with."""

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from evalsite.urls import urlpatterns as app_urlpatterns

# Created by bench/serving.py in its scratch database (not a model: no migration needed).
BENCH_TABLE = "bench_write"


@csrf_exempt
@require_POST
def bare_write(request: HttpRequest) -> HttpResponse:
    """One INSERT and a tiny response: the floor a judgment submit is compared with."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {BENCH_TABLE} (client, written_at) VALUES (%s, now())",
            [request.POST.get("client", "")[:100]],
        )
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [path("bench/write/", bare_write, name="bench-write"), *app_urlpatterns]
