"""Personal API tokens: a researcher's key to the REST API, acting as that researcher.

A token is shown once, when it is made; only its sha256 is stored, so a leaked database
gives no working token. It carries no permissions of its own: a request with it is a
request of its user, asked the same questions as the pages (console.access).
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

# What a token starts with: says what it is where one turns up (a log, a leaked file).
TOKEN_PREFIX = "evs_"
# Characters of the token kept in clear to tell one's tokens apart on the tokens page.
SHOWN_CHARS = len(TOKEN_PREFIX) + 6


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(
        max_length=100, help_text="what the token is for (a script, a lab machine)"
    )
    token_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the token")
    shown = models.CharField(max_length=SHOWN_CHARS, help_text="the token's first characters")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.shown}…) of {self.user}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def create_token(user, name: str) -> tuple[ApiToken, str]:
    """A new token of ``user``: its row, and the token itself (shown once, never stored)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken.objects.create(
        user=user, name=name, token_hash=token_hash(token), shown=token[:SHOWN_CHARS]
    )
    return row, token


def revoke_token(user, token_id: int) -> bool:
    """Revoke one of ``user``'s own tokens; False when it has no such active token."""
    revoked = ApiToken.objects.filter(pk=token_id, user=user, revoked_at=None).update(
        revoked_at=timezone.now()
    )
    return bool(revoked)


def user_of_token(token: str):
    """The active user a token acts as, or None (unknown, revoked, user inactive); the
    token's last use is recorded."""
    row = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=token_hash(token), revoked_at=None)
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    return row.user
