"""Study members and invitations, read-only: they are changed on a study's members page
(console/member_views.py), which keeps a study's last owner and single-use links."""

from django.contrib import admin

from .models import StudyInvitation, StudyMembership

MEMBERS_NOTE = "Members are added, changed and removed on the study's Members page in the console."


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"subtitle": MEMBERS_NOTE, **(extra_context or {})})


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
