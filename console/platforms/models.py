"""A study's link to its Prolific study: the researcher's API token (encrypted), the id of
the draft created from the spec, and what the last sync did."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from . import token_store
from .prolific_core import token_hint


class ProlificLink(models.Model):
    study = models.OneToOneField(
        "annotation.Study", on_delete=models.CASCADE, related_name="prolific_link"
    )
    token_encrypted = models.TextField(
        blank=True, help_text="the researcher's Prolific API token, encrypted (token_store)"
    )
    token_hint = models.CharField(max_length=8, blank=True, help_text="its last characters")
    prolific_study_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    draft_created_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_sync = models.JSONField(default=dict, blank=True, help_text="counts of the last sync")

    def __str__(self) -> str:
        return f"Prolific link of {self.study}"

    def set_token(self, token: str) -> None:
        token = token.strip()
        self.token_encrypted = token_store.encrypt(token) if token else ""
        self.token_hint = token_hint(token) if token else ""

    def token(self) -> str:
        return token_store.decrypt(self.token_encrypted) if self.token_encrypted else ""
