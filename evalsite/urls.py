from django.contrib import admin
from django.urls import include, path

from . import console

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", console.home, name="home"),
    path("console/", console.study_list, name="console"),
    path("console/generation/", console.generation_jobs, name="console-generation"),
    path("console/<slug:study_name>/", console.study_detail, name="console-study"),
    path("console/<slug:study_name>/progress.json", console.study_progress_json, name="console-progress"),
    path("console/<slug:study_name>/judgments.csv", console.study_judgments_csv, name="console-judgments"),
    path("console/<slug:study_name>/results.zip", console.study_results_zip, name="console-results"),
    path("", include("annotation.urls")),
]
