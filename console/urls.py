from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("console/", views.study_list, name="console"),
    path("console/generation/", views.generation_jobs, name="console-generation"),
    path("console/<slug:study_name>/", views.study_detail, name="console-study"),
    path(
        "console/<slug:study_name>/progress.json",
        views.study_progress_json,
        name="console-progress",
    ),
    path(
        "console/<slug:study_name>/judgments.csv",
        views.study_judgments_csv,
        name="console-judgments",
    ),
    path("console/<slug:study_name>/results.zip", views.study_results_zip, name="console-results"),
]
