"""Per-annotator invitation links: a signed token naming the annotator, per study.

`/a/<study>/?invite=<token>` identifies the same participant on any device (a lab member
can start on a laptop and finish on a phone). Tokens are signed with the site's secret key
and salted with the study's name, so they cannot be guessed, edited, or reused on another
study. No table is needed: the token carries the label.
"""

from __future__ import annotations

import re

from django.core import signing

LABEL_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,100}$")


class InvalidInvitation(Exception):
    pass


def _salt(study_name: str) -> str:
    return f"evalsite.invitation:{study_name}"


def make_invitation(study_name: str, label: str) -> str:
    if not LABEL_PATTERN.match(label):
        raise ValueError(
            f"invitation label {label!r}: use 1-100 letters, digits, '.', '_', '@' or '-'"
        )
    return signing.dumps(label, salt=_salt(study_name), compress=False)


def read_invitation(study_name: str, token: str) -> str:
    """The label inside a valid token for this study; InvalidInvitation otherwise."""
    try:
        label = signing.loads(token, salt=_salt(study_name))
    except signing.BadSignature:
        raise InvalidInvitation("this invitation link is not valid for this study") from None
    if not isinstance(label, str) or not LABEL_PATTERN.match(label):
        raise InvalidInvitation("this invitation link is not valid for this study")
    return label
