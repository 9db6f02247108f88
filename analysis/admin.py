from django.contrib import admin

from .models import ImportedJudgment, ImportedStudy, StudyResults


@admin.register(ImportedStudy)
class ImportedStudyAdmin(admin.ModelAdmin):
    list_display = ("name", "protocol", "judgment_count", "source_path", "created_at")
    list_filter = ("protocol",)
    search_fields = ("name", "source_path")
    readonly_fields = ("created_at",)

    @admin.display(description="judgments")
    def judgment_count(self, obj: ImportedStudy) -> int:
        return obj.judgments.count()


@admin.register(ImportedJudgment)
class ImportedJudgmentAdmin(admin.ModelAdmin):
    list_display = (
        "study",
        "line",
        "annotator",
        "context",
        "system",
        "system_b",
        "dimension",
        "value",
        "choice",
    )
    list_filter = ("study", "dimension")
    search_fields = ("annotator", "context", "system", "system_b")
    raw_id_fields = ("study",)
    list_select_related = ("study",)


@admin.register(StudyResults)
class StudyResultsAdmin(admin.ModelAdmin):
    """Cached analyses (analysis.results_cache): to look at, not to edit; deleting one
    makes the next visit of the results page compute it again."""

    list_display = ("study", "judgment_count", "options", "status", "seconds", "finished_at")
    list_filter = ("status",)
    search_fields = ("study__name",)
    list_select_related = ("study",)
    exclude = ("data", "bundle_zip")
    readonly_fields = (
        "study",
        "options_key",
        "options",
        "judgment_count",
        "status",
        "error",
        "requested_at",
        "started_at",
        "finished_at",
        "seconds",
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
