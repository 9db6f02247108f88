"""A researcher's platform API token, encrypted at rest (Fernet, from `cryptography`) with a
key derived from the site's secret key: a copy of the database alone does not give the token
away. A new secret key makes stored tokens unreadable; the researcher enters theirs again."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

_PURPOSE = b"evalsite.platform-token.v1"


class TokenUnreadable(ValueError):
    pass


def _fernet() -> Fernet:
    digest = hashlib.sha256(_PURPOSE + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(token: str) -> str:
    return _fernet().encrypt(token.encode()).decode("ascii")


def decrypt(stored: str) -> str:
    try:
        return _fernet().decrypt(stored.encode("ascii")).decode()
    except InvalidToken:
        raise TokenUnreadable(
            "the stored Prolific token cannot be read (the site's secret key changed): "
            "enter the token again"
        ) from None
