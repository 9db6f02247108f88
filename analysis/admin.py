from django.contrib import admin

from .models import ImportedJudgment, ImportedStudy


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
