from pathlib import Path

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.cache import cache_control

from . import console

FAVICON = (Path(__file__).parent / "templates" / "evalsite" / "favicon.svg").read_bytes()


@cache_control(max_age=86400, public=True)
def favicon(request: HttpRequest) -> HttpResponse:
    """The site's icon (also at /favicon.ico, which browsers ask for unprompted)."""
    return HttpResponse(FAVICON, content_type="image/svg+xml")


urlpatterns = [
    path("favicon.svg", favicon, name="favicon"),
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("", console.home, name="home"),
    path("console/", console.study_list, name="console"),
    path("console/generation/", console.generation_jobs, name="console-generation"),
    path("console/<slug:study_name>/", console.study_detail, name="console-study"),
    path(
        "console/<slug:study_name>/progress.json",
        console.study_progress_json,
        name="console-progress",
    ),
    path(
        "console/<slug:study_name>/judgments.csv",
        console.study_judgments_csv,
        name="console-judgments",
    ),
    path(
        "console/<slug:study_name>/results.zip", console.study_results_zip, name="console-results"
    ),
    path("", include("annotation.urls")),
]
