from pathlib import Path

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control

from api.urls import token_urlpatterns

FAVICON = (Path(__file__).parent / "templates" / "evalsite" / "favicon.svg").read_bytes()


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """The site's icon (also at /favicon.ico, which browsers ask for unprompted)."""
    return HttpResponse(FAVICON, content_type="image/svg+xml")


urlpatterns = [
    # First: the annotators' pages (all under a/<study>/) are most of the requests, and Django
    # tries the patterns in order, noting every one that failed (the admin's alone are 161).
    path("", include("annotation.urls")),
    path("favicon.svg", favicon, name="favicon"),
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),  # the REST API and its docs (api/urls.py)
    path("accounts/tokens/", include(token_urlpatterns)),  # a researcher's API tokens
    path("", include("console.urls")),
]
