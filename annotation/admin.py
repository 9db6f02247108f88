"""Admin pages for every model of the app.

A study, its items, batches, entries and slots are made by `create_study` from one spec
(annotation/study_builder.py), assignments by the assignment service, judgments by the
annotator pages. None of them can be made by hand in a form that would work: the admin does
not offer to add them (a direct visit to the add page answers 403), and says on the list
page where they come from. Items, batches, entries, slots and leases are shown read-only.
A study's fields that come from its spec are read-only; only its status (open / paused /
closed; never back to draft) can be changed here.
"""

from django.contrib import admin

from .models import (
    Assignment,
    Batch,
    BatchEntry,
    BatchSlot,
    Item,
    ItemSkip,
    Judgment,
    Participant,
    QualificationAnswer,
    SafetyEvent,
    Study,
    StudySpecVersion,
)

CREATE_STUDY_NOTE = (
    "A study is created from a spec, not here: "
    "python manage.py validate_spec SPEC.yaml, then python manage.py create_study SPEC.yaml "
    "(see examples/reference.yaml)."
)


class NotAddedByHand:
    """A ModelAdmin mixin: no add form (403), and a note on the list page saying why."""

    add_note = CREATE_STUDY_NOTE

    def has_add_permission(self, request) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(
            request, {"subtitle": self.add_note, **(extra_context or {})}
        )


class ReadOnlyRecord(NotAddedByHand):
    """Rows the design or the assignment service keeps consistent (items, batches, entries,
    slots, leases): shown, never edited here — a changed slot state or lease would break
    the guarantee that no item gets more judgments than the spec asks for."""

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# The study's columns that create_study fills from the spec (and its design).
STUDY_FIELDS_FROM_SPEC = (
    "name",
    "title",
    "protocol",
    "overlap",
    "lease_minutes",
    "spec_hash",
    "spec_source",
    "spec",
    "design_report",
    "created_at",
)


@admin.register(Study)
class StudyAdmin(NotAddedByHand, admin.ModelAdmin):
    list_display = ("name", "protocol", "status", "overlap", "lease_minutes", "created_at")
    search_fields = ("name", "title")
    readonly_fields = STUDY_FIELDS_FROM_SPEC
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "title",
                    "protocol",
                    "status",
                    "overlap",
                    "lease_minutes",
                    "created_at",
                ),
                "description": "Everything but the status comes from the study's spec and is frozen "
                "once the study exists. To change it, edit the spec and create a new "
                "study from it (python manage.py create_study SPEC.yaml).",
            },
        ),
        ("Spec and design", {"fields": ("spec_hash", "spec_source", "spec", "design_report")}),
    )

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        # A study goes back to draft only by being created again: a draft's design is remade
        # from its spec, which would drop the work of a study that has been open.
        if db_field.name == "status":
            kwargs["choices"] = [
                (value, label) for value, label in db_field.choices if value != Study.Status.DRAFT
            ]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


@admin.register(Item)
class ItemAdmin(ReadOnlyRecord, admin.ModelAdmin):
    add_note = "Items are made by create_study from the study's spec. " + CREATE_STUDY_NOTE
    list_display = (
        "id",
        "study",
        "output_key",
        "candidate",
        "candidate_b",
        "attention_check_id",
    )
    list_filter = ("study", "attention_check_id")
    search_fields = ("output_key",)
    raw_id_fields = ("context", "candidate", "candidate_b")


class DesignInline(admin.TabularInline):
    """A batch's entries or slots: part of the design create_study made; none added here."""

    extra = 0

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class BatchEntryInline(DesignInline):
    model = BatchEntry
    raw_id_fields = ("item",)


class BatchSlotInline(DesignInline):
    model = BatchSlot
    raw_id_fields = ("participant",)


@admin.register(Batch)
class BatchAdmin(ReadOnlyRecord, admin.ModelAdmin):
    add_note = "Batches are designed by create_study from the study's spec. " + CREATE_STUDY_NOTE
    list_display = ("study", "index", "kind", "ordering", "slots")
    list_filter = ("study", "kind")
    inlines = [BatchEntryInline, BatchSlotInline]


@admin.register(BatchEntry)
class BatchEntryAdmin(ReadOnlyRecord, admin.ModelAdmin):
    add_note = (
        "Batch entries are designed by create_study from the study's spec. " + CREATE_STUDY_NOTE
    )
    list_display = ("batch", "position", "block_index", "item")
    list_filter = ("batch__study",)
    raw_id_fields = ("batch", "item")


@admin.register(BatchSlot)
class BatchSlotAdmin(ReadOnlyRecord, admin.ModelAdmin):
    add_note = (
        "Each batch gets its slots (the study's overlap) from create_study; another "
        "slot would give its items more judgments than the spec asks for. " + CREATE_STUDY_NOTE
    )
    list_display = ("batch", "slot_index", "state", "participant", "lease_expires_at")
    list_filter = ("state", "batch__study")
    raw_id_fields = ("batch", "participant")


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = ("external_id", "study", "source", "created_at", "consented_at")
    list_filter = ("study", "source")
    search_fields = ("external_id",)


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyRecord, admin.ModelAdmin):
    add_note = (
        "Assignments (leases) are handed out by the annotator pages when an annotator "
        "asks for work (annotation/assignment.py)."
    )
    list_display = (
        "participant",
        "slot",
        "status",
        "started_at",
        "lease_expires_at",
        "completed_at",
    )
    list_filter = ("status", "participant__study")
    raw_id_fields = ("slot", "participant")


@admin.register(Judgment)
class JudgmentAdmin(NotAddedByHand, admin.ModelAdmin):
    add_note = (
        "Judgments are append-only facts recorded by the annotator pages; import "
        "judgments collected elsewhere with python manage.py import_judgments FILE."
    )
    list_display = ("id", "study", "participant", "item", "position", "server_received_at")
    list_filter = ("study",)
    raw_id_fields = ("assignment", "participant", "batch", "slot", "entry", "item")
    readonly_fields = [f.name for f in Judgment._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # judgments are append-only facts


@admin.register(StudySpecVersion)
class StudySpecVersionAdmin(NotAddedByHand, admin.ModelAdmin):
    add_note = (
        "A spec version is kept by the console's study editor each time a draft's spec is "
        "saved; the versions of a study are its history and do not change."
    )
    list_display = ("study", "number", "spec_hash", "created_by", "created_at")
    list_filter = ("study",)
    readonly_fields = [f.name for f in StudySpecVersion._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a kept version is history


@admin.register(QualificationAnswer)
class QualificationAnswerAdmin(ReadOnlyRecord, admin.ModelAdmin):
    add_note = "Answers to the qualification's gold items (annotation/qualification.py)."
    list_display = ("participant", "gold_id", "correct", "answered_at")
    list_filter = ("correct", "participant__study")
    raw_id_fields = ("participant",)


@admin.register(ItemSkip)
class ItemSkipAdmin(ReadOnlyRecord, admin.ModelAdmin):
    add_note = (
        "Items annotators skipped as distressing; each real item's output was given to "
        "someone else in a reassigned batch (annotation/safety.py)."
    )
    list_display = ("study", "participant", "item", "reason", "skipped_at", "reassigned_to")
    list_filter = ("study", "reason")
    raw_id_fields = ("participant", "assignment", "entry", "item", "reassigned_to")


@admin.register(SafetyEvent)
class SafetyEventAdmin(ReadOnlyRecord, admin.ModelAdmin):
    add_note = "Pauses, returns and break reminders of annotators (annotation/safety.py)."
    list_display = ("participant", "kind", "at")
    list_filter = ("kind", "participant__study")
    raw_id_fields = ("participant",)
