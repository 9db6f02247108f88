from django.contrib import admin

from .models import Assignment, Batch, BatchEntry, BatchSlot, Item, Judgment, Participant, Study


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ("name", "protocol", "status", "overlap", "lease_minutes", "created_at")
    search_fields = ("name", "title")
    readonly_fields = ("spec", "spec_hash", "spec_source", "design_report", "created_at")


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = ("id", "study", "output_key", "candidate", "candidate_right", "attention_check_id")
    list_filter = ("study", "attention_check_id")
    search_fields = ("output_key",)
    raw_id_fields = ("context", "candidate", "candidate_right")


class BatchEntryInline(admin.TabularInline):
    model = BatchEntry
    extra = 0
    raw_id_fields = ("item",)


class BatchSlotInline(admin.TabularInline):
    model = BatchSlot
    extra = 0
    raw_id_fields = ("participant",)


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("study", "index", "kind", "ordering", "slots")
    list_filter = ("study", "kind")
    inlines = [BatchEntryInline, BatchSlotInline]


@admin.register(BatchEntry)
class BatchEntryAdmin(admin.ModelAdmin):
    list_display = ("batch", "position", "block_index", "item")
    list_filter = ("batch__study",)
    raw_id_fields = ("batch", "item")


@admin.register(BatchSlot)
class BatchSlotAdmin(admin.ModelAdmin):
    list_display = ("batch", "slot_index", "state", "participant", "lease_expires_at")
    list_filter = ("state", "batch__study")
    raw_id_fields = ("batch", "participant")


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("external_id", "study", "source", "created_at", "consented_at")
    list_filter = ("study", "source")
    search_fields = ("external_id",)


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("participant", "slot", "status", "started_at", "lease_expires_at", "completed_at")
    list_filter = ("status", "participant__study")
    raw_id_fields = ("slot", "participant")


@admin.register(Judgment)
class JudgmentAdmin(admin.ModelAdmin):
    list_display = ("id", "study", "participant", "item", "position", "server_received_at")
    list_filter = ("study",)
    raw_id_fields = ("assignment", "participant", "batch", "slot", "entry", "item")
    readonly_fields = [f.name for f in Judgment._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # judgments are append-only facts
