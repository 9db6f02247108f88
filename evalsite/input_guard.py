"""Refuses, with a 400 page naming the field, any request whose URL parameters or form
fields hold what no column can store: a NUL character (PostgreSQL's text refuses it, so it
would surface as a 500 wherever the value is written or even looked up) or bytes that are
not UTF-8 text (an encoded lone surrogate, say, which Django would otherwise turn silently
into U+FFFD). Checked once, here, for every page and form: the annotator's link parameters,
their answers and rationales, idempotency keys, and the researcher's forms alike. Uploaded
files are checked by their readers, with line numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import unquote_to_bytes

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string


def _fields(encoded: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The raw (name, value) bytes of an application/x-www-form-urlencoded string."""
    for pair in encoded.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        yield (
            unquote_to_bytes(name.replace(b"+", b" ")),
            unquote_to_bytes(value.replace(b"+", b" ")),
        )


def unstorable_field(encoded: bytes) -> tuple[str, str] | None:
    """(field name, what is wrong) for the first field that cannot be stored, or None."""
    for raw_name, raw_value in _fields(encoded):
        name = raw_name.decode("utf-8", errors="replace").replace(
            "\x00", "\N{REPLACEMENT CHARACTER}"
        )
        for raw in (raw_name, raw_value):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                return name, "bytes that are not UTF-8 text (such as an encoded lone surrogate)"
            if "\x00" in text:
                return name, "a NUL character"
    return None


class InputGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The server hands the query string over as latin-1 text: back to its bytes.
        query = request.META.get("QUERY_STRING", "").encode("latin-1", errors="replace")
        problem = unstorable_field(query)
        kind = "URL parameter"
        if problem is None and request.method == "POST":
            kind = "form field"
            if request.content_type == "application/x-www-form-urlencoded":
                problem = unstorable_field(request.body)
            elif request.content_type == "multipart/form-data":
                # multipart fields arrive decoded (bad bytes already replaced); NULs remain
                problem = next(
                    (
                        (name, "a NUL character")
                        for name, values in request.POST.lists()
                        if any("\x00" in v for v in (name, *values))
                    ),
                    None,
                )
        if problem is None:
            return self.get_response(request)
        name, what = problem
        html = render_to_string(
            "400.html",
            {"problem": f"The {kind} “{name}” contains {what}, which cannot be stored."},
            request=request,
        )
        return HttpResponse(html, status=400)
