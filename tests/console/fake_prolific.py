"""A local fake of Prolific's API for the tests (the real one cannot be reached here): a real
HTTP server on 127.0.0.1 that speaks the endpoints evalsite uses, refuses a request without
the right `Authorization: Token …` header, and checks the shape of what it is sent the way
Prolific documents it (required fields, code types, rejection category and message length).
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STUDY_FIELDS = {
    "name": str,
    "description": str,
    "external_study_url": str,
    "prolific_id_option": str,
    "completion_codes": list,
    "estimated_completion_time": int,
    "reward": int,
    "total_available_places": int,
}
CODE_TYPES = {"COMPLETED", "FAILED_ATTENTION_CHECK", "OTHER", "FOLLOW_UP_STUDY", "NO_CONSENT"}
CODE_ACTIONS = {"MANUALLY_REVIEW", "AUTOMATICALLY_APPROVE", "REQUEST_RETURN"}
CATEGORIES = {"TOO_QUICKLY", "FAILED_CHECK", "LOW_EFFORT", "NO_CODE", "BAD_CODE", "OTHER"}


class FakeProlific:
    """State of the fake: studies created, submissions by study, transitions received."""

    def __init__(self, token: str, page_size: int = 2):
        self.token = token
        self.page_size = page_size
        self.studies: dict[str, dict] = {}
        self.submissions: dict[str, list[dict]] = {}
        self.transitions: list[tuple[str, dict]] = []
        self.refused: list[str] = []
        self.seen_auth: set[str] = set()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeProlific:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_submission(self, study_id: str, participant_id: str, status: str) -> str:
        sid = uuid.uuid4().hex[:24]
        self.submissions.setdefault(study_id, []).append(
            {
                "id": sid,
                "participant_id": participant_id,
                "status": status,
                "started_at": "2026-01-01T00:00:00Z",
            }
        )
        return sid

    def status_of(self, submission_id: str) -> str:
        for rows in self.submissions.values():
            for row in rows:
                if row["id"] == submission_id:
                    return row["status"]
        raise KeyError(submission_id)

    # --- the API ---------------------------------------------------------------------
    def _create_study(self, body: dict) -> tuple[int, dict]:
        problems = [
            f"{name}: required {kind.__name__}"
            for name, kind in STUDY_FIELDS.items()
            if not isinstance(body.get(name), kind)
        ]
        for code in body.get("completion_codes") or []:
            if not code.get("code") or code.get("code_type") not in CODE_TYPES:
                problems.append(f"completion_codes: bad code {code}")
            if not all(a.get("action") in CODE_ACTIONS for a in code.get("actions", [])):
                problems.append(f"completion_codes: bad actions {code}")
        if problems:
            return 400, {"error": problems}
        study_id = uuid.uuid4().hex[:24]
        self.studies[study_id] = {**body, "id": study_id, "status": "UNPUBLISHED"}
        return 201, self.studies[study_id]

    def _list(self, study_id: str, offset: int) -> tuple[int, dict]:
        if study_id not in self.studies:
            return 404, {"error": "no such study"}
        rows = self.submissions.get(study_id, [])
        page = rows[offset : offset + self.page_size]
        more = offset + self.page_size < len(rows)
        following = (
            {
                "href": f"{self.url}/api/v1/studies/{study_id}/submissions/?offset={offset + self.page_size}"
            }
            if more
            else {"href": None}
        )
        return 200, {"results": page, "_links": {"next": following}, "meta": {"count": len(rows)}}

    def _transition(self, submission_id: str, body: dict) -> tuple[int, dict]:
        action = body.get("action")
        if action == "REJECT" and (
            len(body.get("message", "")) < 100 or body.get("rejection_category") not in CATEGORIES
        ):
            return 400, {"error": "a rejection needs a message of 100+ characters and a category"}
        if action not in ("APPROVE", "REJECT"):
            return 400, {"error": f"unknown action {action}"}
        for rows in self.submissions.values():
            for row in rows:
                if row["id"] == submission_id:
                    if row["status"] != "AWAITING REVIEW":
                        return 400, {"error": f"cannot {action} a submission {row['status']}"}
                    row["status"] = "APPROVED" if action == "APPROVE" else "REJECTED"
                    self.transitions.append((submission_id, body))
                    return 200, row
        return 404, {"error": "no such submission"}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                auth = self.headers.get("Authorization", "")
                fake.seen_auth.add(auth)
                if auth != f"Token {fake.token}":
                    fake.refused.append(self.path)
                    self._answer(401, {"error": "invalid token"})
                    return False
                return True

            def do_GET(self):
                if not self._authorised():
                    return
                path, _, query = self.path.partition("?")
                parts = path.strip("/").split("/")
                if (
                    parts[:3] == ["api", "v1", "studies"]
                    and len(parts) == 5
                    and parts[4] == "submissions"
                ):
                    offset = int(dict(p.split("=") for p in query.split("&") if p).get("offset", 0))
                    return self._answer(*fake._list(parts[3], offset))
                self._answer(404, {"error": "not found"})

            def do_POST(self):
                if not self._authorised():
                    return
                length = int(self.headers.get("Content-Length", 0))
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return self._answer(400, {"error": "not JSON"})
                parts = self.path.strip("/").split("/")
                if parts == ["api", "v1", "studies"]:
                    return self._answer(*fake._create_study(body))
                if (
                    parts[:3] == ["api", "v1", "submissions"]
                    and len(parts) == 5
                    and parts[4] == "transition"
                ):
                    return self._answer(*fake._transition(parts[3], body))
                self._answer(404, {"error": "not found"})

        return Handler
