"""A thin client of Prolific's API (httpx): create a draft study, list its submissions, move
one submission on (approve, reject). Authentication is `Authorization: Token <token>`; the
token is never logged or put in an error message (errors name the request, not headers).

The base address is settings.PROLIFIC_API_URL (https://api.prolific.com); the tests point it
at a local fake server.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from .prolific_core import Submission, submission_from_json

TIMEOUT = httpx.Timeout(20.0, connect=10.0)
MAX_PAGES = 1000  # a study has at most a few thousand submissions; a loop guard, not a limit


class ProlificError(RuntimeError):
    """A request Prolific refused or did not answer: what was asked and what came back."""


class ProlificClient:
    def __init__(self, token: str, base_url: str, transport: httpx.BaseTransport | None = None):
        if not token:
            raise ProlificError("no Prolific API token is set for this study")
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Token {token}", "Accept": "application/json"},
            timeout=TIMEOUT,
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ProlificClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as error:
            raise ProlificError(f"{method} {path}: Prolific did not answer ({error})") from None
        if response.status_code >= 400:
            detail = response.text[:500]
            raise ProlificError(
                f"{method} {path}: Prolific answered {response.status_code}: {detail}"
            )
        return response.json() if response.content else None

    def create_draft_study(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """POST /api/v1/studies/: the new study (UNPUBLISHED) with its id."""
        created = self._request("POST", "/api/v1/studies/", payload)
        if not isinstance(created, dict) or not created.get("id"):
            raise ProlificError("POST /api/v1/studies/: the answer names no study id")
        return created

    def submissions(self, prolific_study_id: str) -> Iterator[Submission]:
        """Every submission of the study, following the list's `_links.next` pages."""
        path: str | None = f"/api/v1/studies/{prolific_study_id}/submissions/"
        for _ in range(MAX_PAGES):
            if path is None:
                return
            page = self._request("GET", path)
            for row in page.get("results", []):
                yield submission_from_json(row)
            following = ((page.get("_links") or {}).get("next") or {}).get("href")
            path = _same_host_path(following) if following else None
        raise ProlificError(f"the submissions list did not end after {MAX_PAGES} pages")

    def transition(self, submission_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST /api/v1/submissions/{id}/transition/ (idempotent on Prolific's side)."""
        return self._request("POST", f"/api/v1/submissions/{submission_id}/transition/", body)


def _same_host_path(href: str) -> str:
    # A next link is followed on the configured host only: the token goes nowhere else.
    url = httpx.URL(href)
    return url.raw_path.decode("ascii")
