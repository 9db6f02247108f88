"""The item page of an unanswered entry, from a per-study frame and a per-item dialogue.

The page an annotator gets for an entry with an empty form (no errors, no notice) is the same
for every entry of a study but for what is per item (the conversation and the response(s)),
per entry (its id, its place in the batch) and per request (the CSRF token, the CSP nonce,
the submit's idempotency key). Rendering it with Django's templates was the largest part of a
judgment's server time (bench/RESULTS.md), and a design gives each annotator a batch of their
own (block-randomised orders), so one entry is rarely shown twice: a page kept per entry was
rendered again for nearly every submit. So:

* the frame — item.html rendered once per study and batch length, with placeholders where
  the per-item, per-entry and per-request values go — is split at those placeholders once;
* the dialogue — annotation/_dialogue.html, what item.html itself includes — is rendered once
  per item and process;
* a request joins the frame's parts with its values: the dialogue, the entry id, the
  position, the bar (`presentation.progress`, the one rule for both paths), the three
  per-request values.

What a page shows is frozen with the study (its spec and items never change once it exists);
the keys hold the study's creation time and spec hash, as `hot_path`'s entry cache does.
Nothing else per entry, annotator or request may enter item.html: a test compares this page
with item.html rendered whole for entries at every position, both protocols and safety
controls.
"""

from __future__ import annotations

import re
import secrets
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, get_token
from django.template.loader import render_to_string

from .. import hot_path
from . import presentation

CACHE_DIALOGUES = 4096  # one item's conversation and response(s): a few KB
CACHE_FRAMES = 64  # one per study and batch length a process serves

# Placeholders that cannot occur in a page by chance (lower-case letters, digits and dashes
# only: nothing escapes them); each is checked to occur where expected when a frame is made.
_SLOTS = {
    "csrf": "evalsite-slot-csrf-6d1f0a",
    "nonce": "evalsite-slot-nonce-93b7c2",
    "key": "evalsite-slot-key-4e8a15",
    "dialogue": "evalsite-slot-dialogue-0c7e21",
    "entry": "evalsite-slot-entry-5b2d90",
    "position": "evalsite-slot-position-a41f3e",
    "answered": "evalsite-slot-answered-7e9b04",
    "percent": "evalsite-slot-percent-2c6d18",
    "submit_label": "evalsite-slot-label-f03a77",
}
_BY_PLACEHOLDER = {v: k for k, v in _SLOTS.items()}
_SPLIT = re.compile("(" + "|".join(map(re.escape, _SLOTS.values())) + ")")
# Each must be in the frame (csrf: the judgment form's, and the safety forms' when shown).
_ONCE = ("key", "dialogue", "position", "answered", "percent", "submit_label")

# A frame: the page's text at even indices, slot names at odd ones.
_frames: OrderedDict[tuple[Any, ...], list[str]] = OrderedDict()
_dialogues: OrderedDict[tuple[Any, ...], str] = OrderedDict()
_lock = threading.Lock()


def _make_frame(
    study: Any, entry: Any, total: int, rows: Callable[[], list[dict[str, Any]]]
) -> list[str]:
    context = {
        "study": study,
        "spec": study.spec,
        "wording": presentation.wording(study.spec),
        **presentation.item_context(study, entry, total, rows(), idempotency_key=_SLOTS["key"]),
        "dialogue_html": _SLOTS["dialogue"],
        "entry": {"id": _SLOTS["entry"]},
        "position": _SLOTS["position"],
        "answered": _SLOTS["answered"],
        "percent": _SLOTS["percent"],
        "submit_label": _SLOTS["submit_label"],
        "csrf_token": _SLOTS["csrf"],
        "CSP_NONCE": _SLOTS["nonce"],
    }
    parts = _SPLIT.split(render_to_string("annotation/item.html", context))
    parts[1::2] = [_BY_PLACEHOLDER[p] for p in parts[1::2]]
    found = set(parts[1::2])
    if not found.issuperset(_ONCE) or "csrf" not in found:  # pragma: no cover
        raise RuntimeError("item.html must show every per-entry value through its context")
    return parts


def _cached(cache: OrderedDict, key: tuple[Any, ...], limit: int, make: Callable[[], Any]) -> Any:
    with _lock:
        found = cache.get(key)
        if found is not None:
            cache.move_to_end(key)
            return found
    made = make()
    with _lock:
        cache[key] = made
        while len(cache) > limit:
            cache.popitem(last=False)
    return made


def clear() -> None:
    with _lock:
        _frames.clear()
        _dialogues.clear()


def _csrf_token(request: HttpRequest) -> str:
    """The form's CSRF token; the CSRF cookie is sent only when the request brought none.
    Django's get_token marks the cookie to be sent again with every page that shows a token,
    to renew its expiry (a year); an annotator's pages follow each other within the hour,
    and resending it was a cookie header written and read for every item. So a request
    that brought a valid cookie gets a token masked here, and only the others ask Django
    (which then sets a new cookie)."""
    secret = request.META.get("CSRF_COOKIE")
    if secret and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE", False):
        masked = masked_csrf_token(secret)
        if masked is not None:
            return masked
    return get_token(request)


# Hand-written, for speed: Django masks a form's token (BREACH: no two pages carry the same
# string) with a mask of 32 `secrets.choice` draws, each a getrandom() system call: ~70 µs of
# every item page here. The mask below is the same — 32 characters, each uniform over
# Django's 62 and independent — drawn from one call for random bytes (a byte below 248, the
# largest multiple of 62 under 256, taken modulo 62 is uniform; the others are dropped), and
# the token is Django's format (mask, then the secret shifted by the mask), which its
# CsrfViewMiddleware checks as its own (tests/annotation/test_item_page_csrf.py).
_CSRF_INDEX = {c: i for i, c in enumerate(CSRF_ALLOWED_CHARS)}
_CSRF_BASE = len(CSRF_ALLOWED_CHARS)
_CSRF_UNBIASED_BELOW = 256 - 256 % _CSRF_BASE


def masked_csrf_token(secret: str) -> str | None:
    """A freshly masked form token for the CSRF `secret` (None: not a secret Django made)."""
    if len(secret) != CSRF_SECRET_LENGTH:
        return None
    try:
        shifts = [_CSRF_INDEX[c] for c in secret]
    except KeyError:
        return None
    mask: list[int] = []
    while len(mask) < CSRF_SECRET_LENGTH:
        drawn = secrets.token_bytes(CSRF_SECRET_LENGTH + 8)
        mask.extend(b % _CSRF_BASE for b in drawn if b < _CSRF_UNBIASED_BELOW)
    del mask[CSRF_SECRET_LENGTH:]
    chars = CSRF_ALLOWED_CHARS
    return "".join(chars[m] for m in mask) + "".join(
        chars[(s + m) % _CSRF_BASE] for s, m in zip(shifts, mask, strict=True)
    )


def fresh_item_page(
    request: HttpRequest, study: Any, entry: Any, rows: Callable[[], list[dict[str, Any]]]
) -> HttpResponse:
    """The item page of `entry` with an empty form (`rows`: the unanswered form's rows, asked
    for only when the study's frame is made)."""
    total = entry.batch_length
    frame = _cached(
        _frames,
        (*hot_path.study_key(study), total),
        CACHE_FRAMES,
        lambda: _make_frame(study, entry, total, rows),
    )
    item = entry.item
    dialogue = _cached(
        _dialogues,
        (*hot_path.study_key(study), item.id),
        CACHE_DIALOGUES,
        lambda: render_to_string(
            "annotation/_dialogue.html",
            presentation.dialogue_context(study, item, item.context.turns),
        ),
    )
    values = {
        **{k: str(v) for k, v in presentation.progress(entry.position, total).items()},
        "dialogue": dialogue,
        "entry": str(entry.id),
        "key": uuid.uuid4().hex,
        "csrf": _csrf_token(request),
        "nonce": str(getattr(request, "csp_nonce", "")),  # the header carries it
    }
    page = frame.copy()
    page[1::2] = [values[slot] for slot in frame[1::2]]
    return HttpResponse("".join(page))
