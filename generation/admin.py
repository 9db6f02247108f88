from django.contrib import admin, messages
from django.db.models import Count

from .models import Candidate, Context, Dataset, GenerationJob, System
from .selectors import JobError, job_progress
from .services import cancel_job, resume_job


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "format", "source_path", "created_at")
    search_fields = ("name",)


@admin.register(Context)
class ContextAdmin(admin.ModelAdmin):
    list_display = ("external_id", "dataset")
    list_filter = ("dataset",)
    search_fields = ("external_id",)


@admin.register(System)
class SystemAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "created_at")
    list_filter = ("kind",)


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ("id", "system", "context", "sample_index", "created_at")
    list_filter = ("system",)
    raw_id_fields = ("context", "generation_job")
    search_fields = ("source_key",)


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    """Jobs with their derived progress; cancel and resume as actions (the same services as
    `python manage.py generate`)."""

    list_display = (
        "id",
        "system",
        "dataset",
        "status",
        "progress",
        "samples_per_context",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "system")
    readonly_fields = (
        "system",
        "dataset",
        "backend_spec",
        "decoding",
        "samples_per_context",
        "chunk_size",
        "batch_size",
        "status",
        "token",
        "error",
        "celery_task_ids",
        "created_at",
        "started_at",
        "finished_at",
        "progress",
    )
    exclude = ("contexts",)
    actions = ("cancel_jobs", "resume_jobs")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("system", "dataset")
            .annotate(
                n_done=Count("candidates", distinct=True),
                n_contexts=Count("contexts", distinct=True),
            )
        )

    def has_add_permission(self, request):
        return False  # jobs are created by `generate` or by a study spec

    @admin.display(description="progress")
    def progress(self, obj):
        done = getattr(obj, "n_done", None)
        n = getattr(obj, "n_contexts", None)
        if done is None or n is None:
            p = job_progress(obj)
            done, total = p.done, p.total
        else:
            total = n * obj.samples_per_context
        return f"{done}/{total}"

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request, queryset):
        for job in queryset:
            cancel_job(job)
        self.message_user(request, f"cancelled {queryset.count()} job(s)", messages.SUCCESS)

    @admin.action(
        description="Resume the selected jobs (re-dispatch chunks with missing candidates)"
    )
    def resume_jobs(self, request, queryset):
        for job in queryset:
            try:
                resume_job(job)
            except Exception as error:  # eager mode runs the chunks here
                level = messages.WARNING if isinstance(error, JobError) else messages.ERROR
                self.message_user(request, f"job {job.pk}: {error}", level)
