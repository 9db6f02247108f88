"""Who belongs to a study, and with what role; invitations to join one.

A study's members are researchers (Django users) with one role each. What a role allows is
decided in one place, console/access.py (django-rules predicates over these rows).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

# How long an invitation link works (its signature carries the time it was made).
INVITATION_LIFETIME = timedelta(days=7)


class Role(models.TextChoices):
    """Ordered from most to least: a role allows everything the ones below it allow."""

    OWNER = "owner"  # everything, including deleting the study and managing members
    EDITOR = "editor"  # edit while draft, open/pause/close, import, launch generation
    VIEWER = "viewer"  # progress, results, downloads


class StudyMembership(models.Model):
    study = models.ForeignKey(
        "annotation.Study", on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="who added the member (empty: a command, or an invitation's creator is gone)",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="one_membership_per_user")
        ]
        ordering = ["study_id", "created_at", "id"]

    def __str__(self) -> str:
        return f"{self.user} in {self.study} ({self.role})"


class StudyInvitation(models.Model):
    """A link that lets one logged-in researcher join a study with `role`, once.

    The link carries a signed, timestamped id (console/members.py); this row says whether it
    was used or withdrawn, so a link works once and an owner can take it back."""

    study = models.ForeignKey(
        "annotation.Study", on_delete=models.CASCADE, related_name="invitations"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invitation {self.pk} to {self.study} ({self.role})"

    @property
    def expires_at(self):
        return self.created_at + INVITATION_LIFETIME

    @property
    def state(self) -> str:
        """pending, used, revoked or expired."""
        if self.used_at is not None:
            return "used"
        if self.revoked_at is not None:
            return "revoked"
        if timezone.now() >= self.expires_at:
            return "expired"
        return "pending"


# A study's Prolific link (its own module, console/platforms/): imported here so Django finds it.
from .platforms.models import ProlificLink  # noqa: E402, F401
