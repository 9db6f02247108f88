"""Amazon Mechanical Turk's ExternalQuestion flow as plain data (no Django).

MTurk shows the study link in a frame and appends `assignmentId`, `hitId`, `workerId` and
`turkSubmitTo`. While a worker only previews the HIT, `assignmentId` is
ASSIGNMENT_ID_NOT_AVAILABLE (and there is no worker id): the page shows an example and
records nothing. At the end the page POSTs `assignmentId` to
`<turkSubmitTo>/mturk/externalSubmit`, which tells MTurk the assignment was done.

`turkSubmitTo` comes from the URL, so anyone can forge it: the submit form goes only to one
of the allowed MTurk origins (settings.MTURK_SUBMIT_HOSTS), never to an address the link
names, so the page cannot be made to post anywhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.etree import ElementTree

PREVIEW_ASSIGNMENT = "ASSIGNMENT_ID_NOT_AVAILABLE"
SUBMIT_PATH = "/mturk/externalSubmit"
# The schema MTurk's documentation gives for an ExternalQuestion.
EXTERNAL_QUESTION_SCHEMA = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2006-07-14/"
    "ExternalQuestion.xsd"
)
MAX_ID = 200  # as the Participant columns; MTurk's ids are ~30 characters
LINK_PARAMETERS = ("assignmentId", "hitId", "workerId", "turkSubmitTo")


class MTurkLinkError(ValueError):
    """A link with MTurk parameters that cannot be used (said for the worker)."""


@dataclass(frozen=True)
class MTurkLink:
    assignment_id: str
    hit_id: str
    worker_id: str
    submit_to: str  # an allowed origin, e.g. https://workersandbox.mturk.com

    @property
    def preview(self) -> bool:
        return self.assignment_id == PREVIEW_ASSIGNMENT


def is_mturk_link(params: Mapping[str, str]) -> bool:
    return bool(params.get("assignmentId", "").strip())


def allowed_origin(submit_to: str, allowed: Iterable[str]) -> str:
    """The allowed origin `submit_to` names, or MTurkLinkError: scheme and host must be one
    of `allowed` exactly, with no path, query, user or port beyond the allowed origin's."""
    try:
        parts = urlsplit(submit_to.strip())
    except ValueError:
        raise MTurkLinkError("its turkSubmitTo is not an address") from None
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if (
        origin not in {a.rstrip("/").lower() for a in allowed}
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        raise MTurkLinkError("its turkSubmitTo is not Amazon Mechanical Turk")
    return origin


def parse_link(params: Mapping[str, str], allowed: Iterable[str]) -> MTurkLink:
    """The MTurk parameters of a link (`params` has assignmentId), checked."""
    values = {name: params.get(name, "").strip() for name in LINK_PARAMETERS}
    for name, value in values.items():
        if len(value) > MAX_ID:
            raise MTurkLinkError(f"its {name} is {len(value)} characters long, at most {MAX_ID}")
    link = MTurkLink(
        assignment_id=values["assignmentId"],
        hit_id=values["hitId"],
        worker_id=values["workerId"],
        submit_to="",
    )
    if link.preview:
        return link  # a preview names no worker and submits nothing
    if not link.worker_id or not link.hit_id:
        raise MTurkLinkError("it has an assignmentId but no workerId or hitId")
    origin = allowed_origin(values["turkSubmitTo"], allowed)
    return MTurkLink(link.assignment_id, link.hit_id, link.worker_id, origin)


def submit_url(origin: str, allowed: Iterable[str]) -> str:
    """Where the last page posts the assignment (checked again: the cookie is old data)."""
    return allowed_origin(origin, allowed) + SUBMIT_PATH


def external_question_xml(url: str, frame_height: int) -> str:
    """The HIT's Question: an ExternalQuestion framing `url` (HTTPS, as MTurk requires)
    `frame_height` pixels high (0: MTurk sizes the frame to the window)."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError(f"MTurk frames only HTTPS addresses, not {url!r}")
    if not 0 <= frame_height <= 10000:
        raise ValueError("FrameHeight must be between 0 and 10000 pixels")
    ElementTree.register_namespace("", EXTERNAL_QUESTION_SCHEMA)
    root = ElementTree.Element(f"{{{EXTERNAL_QUESTION_SCHEMA}}}ExternalQuestion")
    ElementTree.SubElement(root, f"{{{EXTERNAL_QUESTION_SCHEMA}}}ExternalURL").text = url
    ElementTree.SubElement(root, f"{{{EXTERNAL_QUESTION_SCHEMA}}}FrameHeight").text = str(
        frame_height
    )
    body = ElementTree.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"
