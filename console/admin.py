"""Study members, invitations and Prolific links, read-only: members are changed on a study's
members page (console/member_views.py), which keeps a study's last owner and single-use
links; a Prolific link on the study's Prolific page (its token is never shown)."""

from django.contrib import admin

from .models import StudyInvitation, StudyMembership
from .platforms.models import ProlificLink

MEMBERS_NOTE = "Members are added, changed and removed on the study's Members page in the console."
PROLIFIC_NOTE = "A study's Prolific link is set up and synced on its Prolific page in the console."


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    note = MEMBERS_NOTE

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"subtitle": self.note, **(extra_context or {})})


@admin.register(StudyMembership)
class StudyMembershipAdmin(ReadOnly):
    list_display = ("study", "user", "role", "added_by", "created_at")
    list_filter = ("role",)
    search_fields = ("study__name", "user__username")


@admin.register(StudyInvitation)
class StudyInvitationAdmin(ReadOnly):
    list_display = ("study", "role", "created_by", "created_at", "used_by", "used_at", "revoked_at")
    list_filter = ("role",)
    search_fields = ("study__name",)


@admin.register(ProlificLink)
class ProlificLinkAdmin(ReadOnly):
    note = PROLIFIC_NOTE
    # token_encrypted stays out: the admin never shows a researcher's token, even encrypted.
    fields = (
        "study",
        "token_hint",
        "prolific_study_id",
        "created_by",
        "draft_created_at",
        "last_synced_at",
        "last_sync",
    )
    list_display = (
        "study",
        "prolific_study_id",
        "token_hint",
        "draft_created_at",
        "last_synced_at",
    )
    search_fields = ("study__name", "prolific_study_id")
