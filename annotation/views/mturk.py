"""MTurk's ExternalQuestion flow in the annotator pages (the rules: annotation/mturk.py).

- `visitor_from_link`: a link with MTurk's parameters names the worker (source "mturk",
  external id `mturk:<workerId>`); the visitor cookie keeps the HIT, the assignment and the
  checked submit origin for the last page.
- `preview_page`: while the worker only previews the HIT, an example item, and nothing is
  recorded (no cookie, no participant, no lease).
- `submit_context`: the last page's form to `<turkSubmitTo>/mturk/externalSubmit`, only for
  the assignment the work was done under.
- `MTurkFramingMiddleware`: MTurk frames the pages; only MTurk's worker sites may, and only
  for an MTurk visitor's pages.
"""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from .. import mturk
from ..models import Participant, Study
from . import identity, preview
from .identity import Visitor


def in_link(request: HttpRequest) -> bool:
    return mturk.is_mturk_link(request.GET)


def is_preview(request: HttpRequest) -> bool:
    return request.GET.get("assignmentId", "").strip() == mturk.PREVIEW_ASSIGNMENT


def visitor_from_link(request: HttpRequest, known: Visitor | None) -> Visitor:
    """The MTurk worker the link names (raises mturk.MTurkLinkError for a bad link)."""
    link = mturk.parse_link(request.GET, settings.MTURK_SUBMIT_HOSTS)
    external_id = f"mturk:{link.worker_id}"
    fields = {
        "platform_study_id": link.hit_id,
        "platform_session_id": link.assignment_id,
        "platform_submit_to": link.submit_to,
    }
    if known is not None and known.external_id == external_id:
        return replace(known, **fields)  # the same worker: keep what they did, this HIT's ids
    return Visitor(external_id, "mturk", **fields)


def preview_page(request: HttpRequest, study: Study) -> HttpResponse:
    """An example item (the first of the first batch) that posts nowhere; nothing stored."""
    return preview.render_item_preview(request, study, 1, "annotation/mturk_preview.html")


def submit_context(request: HttpRequest, participant: Participant) -> dict:
    """The done page's `mturk` context: where and what to submit, or (a worker back with a
    new HIT after finishing under another) no form, only the advice to return the HIT."""
    if participant.source != "mturk":
        return {}
    visitor = identity.read(request, participant.study.name)
    assignment = visitor.platform_session_id if visitor else ""
    if not visitor or assignment != participant.platform_session_id:
        return {"mturk": {"submit_url": "", "assignment_id": ""}}
    try:
        url = mturk.submit_url(visitor.platform_submit_to, settings.MTURK_SUBMIT_HOSTS)
    except mturk.MTurkLinkError:
        return {"mturk": {"submit_url": "", "assignment_id": ""}}
    # MTurk's form is the way back: no countdown to another platform's address.
    return {"mturk": {"submit_url": url, "assignment_id": assignment}, "redirect_url": ""}


class MTurkFramingMiddleware:
    """Lets MTurk's worker sites frame the annotator pages of an MTurk visitor (a link with
    MTurk's parameters, or the cookie of one), and those pages post to MTurk's submit
    hosts; every other page stays unframable and posts only to this site."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        if match is None or match.app_name != "annotation" or "study_name" not in match.kwargs:
            return response
        if in_link(request) or _cookie_source(request, match.kwargs["study_name"]) == "mturk":
            response.xframe_options_exempt = True
            response._csp_replace = {
                "frame-ancestors": list(settings.MTURK_FRAME_ANCESTORS),
                # the last page posts the assignment to MTurk (and nowhere else)
                "form-action": ["'self'", *settings.MTURK_SUBMIT_HOSTS],
            }
        return response


def _cookie_source(request: HttpRequest, study_name: str) -> str:
    visitor = identity.read(request, study_name)
    return visitor.source if visitor else ""
