from django.urls import path

from . import (
    auth_views,
    datasets,
    decisions,
    editor,
    generation_views,
    member_views,
    power_views,
    prolific_views,
    results,
    systems,
    views,
)

urlpatterns = [
    path("", views.home, name="home"),
    # The researcher's account (outside console/, where a segment can be a study's name).
    path("accounts/login/", auth_views.login, name="login"),
    path("accounts/logout/", auth_views.logout, name="logout"),
    path("accounts/password/", auth_views.password_change, name="password_change"),
    path("accounts/password/done/", auth_views.password_change_done, name="password_change_done"),
    path(
        "accounts/invitations/<str:token>/",
        member_views.accept_invitation,
        name="console-invitation",
    ),
    path("console/", views.study_list, name="console"),
    # Outside console/<study_name>/, where "new" could be a study's name.
    path("studies/new/", editor.new_study, name="console-new-study"),
    path("console/generation/", views.generation_jobs, name="console-generation"),
    # The lab's datasets, systems and generation jobs (outside console/<study_name>/; by id).
    path("datasets/", datasets.dataset_list, name="console-datasets"),
    path("datasets/upload/", datasets.dataset_upload, name="console-dataset-upload"),
    path("datasets/<int:dataset_id>/", datasets.dataset_detail, name="console-dataset"),
    path("systems/", systems.system_list, name="console-systems"),
    path("systems/register/", systems.system_register, name="console-system-register"),
    path("systems/<int:system_id>/", systems.system_detail, name="console-system"),
    path("generation/launch/", generation_views.launch_job, name="console-job-launch"),
    path("generation/<int:job_id>/", generation_views.job_detail, name="console-job"),
    path(
        "generation/<int:job_id>/progress.json",
        generation_views.job_progress_json,
        name="console-job-progress",
    ),
    path("generation/<int:job_id>/cancel/", generation_views.cancel_job, name="console-job-cancel"),
    path("generation/<int:job_id>/resume/", generation_views.resume_job, name="console-job-resume"),
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
    path(
        "console/<slug:study_name>/judgments.jsonl",
        views.study_judgments_jsonl,
        name="console-judgments-jsonl",
    ),
    path("console/<slug:study_name>/results.zip", views.study_results_zip, name="console-results"),
    path("console/<slug:study_name>/results/", results.study_results, name="console-study-results"),
    path(
        "console/<slug:study_name>/results/status.json",
        results.study_results_status,
        name="console-results-status",
    ),
    # A study's members (changes: owners only, POST).
    path("console/<slug:study_name>/members/", member_views.study_members, name="console-members"),
    path(
        "console/<slug:study_name>/prolific/", prolific_views.prolific_page, name="console-prolific"
    ),
    path("console/<slug:study_name>/power/", power_views.power_page, name="console-power"),
    path(
        "console/<slug:study_name>/decisions/",
        decisions.decisions_page,
        name="console-decisions",
    ),
    path(
        "console/<slug:study_name>/members/add/",
        member_views.add_member,
        name="console-member-add",
    ),
    path(
        "console/<slug:study_name>/members/<int:user_id>/role/",
        member_views.change_role,
        name="console-member-role",
    ),
    path(
        "console/<slug:study_name>/members/<int:user_id>/remove/",
        member_views.remove_member,
        name="console-member-remove",
    ),
    path(
        "console/<slug:study_name>/invitations/",
        member_views.create_invitation,
        name="console-invitation-create",
    ),
    path(
        "console/<slug:study_name>/invitations/<int:invitation_id>/revoke/",
        member_views.revoke_invitation,
        name="console-invitation-revoke",
    ),
    # The study editor: the spec while draft, the design, an item as annotators see it.
    path("console/<slug:study_name>/edit/", editor.editor, name="console-editor"),
    path(
        "console/<slug:study_name>/edit/validate.json",
        editor.validate,
        name="console-editor-validate",
    ),
    path(
        "console/<slug:study_name>/preview/<int:position>/",
        editor.preview_item,
        name="console-preview-item",
    ),
    path("console/<slug:study_name>/spec.yaml", editor.spec_source, name="console-spec-source"),
    path("console/<slug:study_name>/status/", editor.change_status, name="console-study-status"),
]
