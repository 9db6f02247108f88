from django.contrib import admin

from .models import Candidate, Context, Dataset, System


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
    raw_id_fields = ("context",)
    search_fields = ("source_key",)
