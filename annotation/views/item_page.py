"""The item page of an unanswered entry, rendered once per entry and process.

The page an annotator gets for an entry with an empty form (no errors, no notice) is the same
for every annotator of that entry but for three values: the CSRF token, the CSP nonce and the
submit's idempotency key. Rendering it with Django's templates was the largest remaining part
of a judgment's server time (bench/RESULTS.md), so it is rendered once with placeholders for
those three, kept in a bounded per-process cache, and filled in per request. What it shows
is frozen with the study (its spec and items never change once it exists), and the key
holds the study's creation time and spec hash, as `hot_path`'s entry cache does.

Nothing per annotator or per request may enter item.html beyond those three values (a test
renders one entry for two annotators and compares).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.template.loader import render_to_string

from . import presentation

CACHE_PAGES = 2048  # a few KB each

# Placeholders that cannot occur in a page (no markup, no spec text contains them by chance:
# they are checked to occur exactly where expected when a page is rendered).
_CSRF = "evalsite-placeholder-csrf-6d1f0a"
_NONCE = "evalsite-placeholder-nonce-93b7c2"
_KEY = "evalsite-placeholder-key-4e8a15"

_pages: OrderedDict[tuple[Any, ...], str] = OrderedDict()
_lock = threading.Lock()


def _render(study: Any, entry: Any, rows: list[dict[str, Any]]) -> str:
    context = {
        "study": study,
        "spec": study.spec,
        "wording": presentation.wording(study.spec),
        **presentation.item_context(study, entry, entry.batch_length, rows, idempotency_key=_KEY),
        "csrf_token": _CSRF,
        "CSP_NONCE": _NONCE,
    }
    html = render_to_string("annotation/item.html", context)
    if html.count(_KEY) != 1 or _CSRF not in html:  # pragma: no cover - the template's shape
        raise RuntimeError("item.html must hold one idempotency key and a CSRF token")
    return html


def clear() -> None:
    with _lock:
        _pages.clear()


def fresh_item_page(request: HttpRequest, study: Any, entry: Any, rows: list[dict[str, Any]]):
    """The item page of `entry` with an empty form (`rows`: the form's rows, unanswered)."""
    key = (entry.id, study.id, study.created_at, study.spec_hash)
    with _lock:
        html = _pages.get(key)
        if html is not None:
            _pages.move_to_end(key)
    if html is None:
        html = _render(study, entry, rows)
        with _lock:
            _pages[key] = html
            while len(_pages) > CACHE_PAGES:
                _pages.popitem(last=False)
    page = (
        html.replace(_KEY, uuid.uuid4().hex)
        .replace(_CSRF, get_token(request))  # also sets the CSRF cookie when needed
        .replace(_NONCE, str(getattr(request, "csp_nonce", "")))  # the header carries it
    )
    return HttpResponse(page)
