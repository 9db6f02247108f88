"""The load generator's annotator: reads each page's form the way a browser would and fills it.

Nothing here knows the annotator pages' markup beyond HTML itself and the question
fieldsets' `data-type` (slider / likert / choice / checkbox): every `<input>`, `<textarea>`
and submit button of the page's POST form is read, hidden fields are sent as they are, each
question is answered by its type, so the client keeps working while the pages change.
A 503 "busy" page is treated as the browser treats it: wait Retry-After, then send its form
again (a POST's fields are in it) or reload.
"""

from __future__ import annotations

import asyncio
import html
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin

import httpx


@dataclass
class Control:
    tag: str  # input, textarea, button
    kind: str  # the input's type (text, hidden, range, radio, checkbox, submit, ...)
    name: str
    value: str
    attrs: dict[str, str]
    question: dict[str, str] | None  # the enclosing fieldset's data-* attributes


@dataclass
class Form:
    method: str
    action: str
    id: str
    controls: list[Control] = field(default_factory=list)

    def names(self) -> set[str]:
        return {c.name for c in self.controls if c.name}

    def fill(self, rng: random.Random) -> dict[str, list[str]]:
        """The fields a person would send: hidden ones as given, each question answered."""
        data: dict[str, list[str]] = {}
        radios: dict[str, list[str]] = {}
        for c in self.controls:
            if not c.name or c.tag == "button" or c.kind in {"submit", "button", "reset"}:
                continue
            q_type = (c.question or {}).get("data-type", "")
            if c.kind == "radio":
                radios.setdefault(c.name, []).append(c.value)
            elif c.kind == "checkbox":
                if rng.random() < 0.5:
                    data.setdefault(c.name, []).append(c.value or "on")
            elif c.kind == "hidden" and q_type == "slider" and not c.value:
                low, high = _slider_range(self, c)
                data.setdefault(c.name, []).append(str(rng.randint(low, high)))
            elif c.kind == "range":
                low, high = int(c.attrs.get("min", 0)), int(c.attrs.get("max", 100))
                data.setdefault(c.name, []).append(str(rng.randint(low, high)))
            elif c.tag == "textarea" and not c.value:
                data.setdefault(c.name, []).append("It reads naturally.")
            else:
                data.setdefault(c.name, []).append(c.value)
        for name, values in radios.items():
            data[name] = [rng.choice(values)]
        button = self.submit_button()
        if button is not None and button.name:
            data.setdefault(button.name, []).append(button.value)
        return data

    def submit_button(self) -> Control | None:
        buttons = [
            c
            for c in self.controls
            if (c.tag == "button" and c.kind in {"", "submit"})
            or (c.tag == "input" and c.kind == "submit")
        ]
        for b in buttons:  # the button that goes on (consent "yes", warning "continue")
            if b.value.lower() in {"yes", "continue", "agree"}:
                return b
        return buttons[0] if buttons else None


def _slider_range(form: Form, hidden: Control) -> tuple[int, int]:
    for c in form.controls:
        if c.kind == "range" and c.question is hidden.question:
            return int(c.attrs.get("min", 0)), int(c.attrs.get("max", 100))
    return 0, 100


# The tags a form is made of, and one attribute (a value quoted either way, bare, or none).
# A scan with two regular expressions, not html.parser: the load generator shares the
# server's cores, and html.parser took a third of a millisecond per item page, a fifth of
# the generator's time per submit (its pages are Django's, well formed, with every < and >
# in a value escaped).
_TAG = re.compile(
    r"<(/?)(form|fieldset|input|button|textarea)\b((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>", re.I
)
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?""")


def _attrs(raw: str) -> dict[str, str]:
    return {
        m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
        for m in _ATTR.finditer(raw)
    }


def _forms(markup: str) -> list[Form]:
    forms: list[Form] = []
    form: Form | None = None
    question: dict[str, str] | None = None
    for m in _TAG.finditer(markup):
        closing, tag, attrs = m.group(1), m.group(2).lower(), _attrs(m.group(3))
        if closing:
            if tag == "form":
                form = None
            elif tag == "fieldset":
                question = None
            continue
        if tag == "form":
            form = Form(
                method=attrs.get("method", "get").lower(),
                action=attrs.get("action", ""),
                id=attrs.get("id", ""),
            )
            forms.append(form)
        elif tag == "fieldset":
            question = {k: v for k, v in attrs.items() if k.startswith("data-")}
        elif form is not None:
            value = attrs.get("value", "")
            if tag == "textarea":  # its text up to </textarea>
                close = markup.find("</textarea", m.end())
                value = html.unescape(markup[m.end() : close if close != -1 else None])
            default = {"button": "submit", "input": "text", "textarea": ""}[tag]
            form.controls.append(
                Control(
                    tag=tag,
                    kind=attrs.get("type", default).lower(),
                    name=attrs.get("name", ""),
                    value=value,
                    attrs=attrs,
                    question=question,
                )
            )
    return forms


def _form_markup(html: str) -> str:
    """Only the page's <form> elements: the load generator shares the server's cores, so it
    parses no more of a page than a form needs (the rest costs it, not the server)."""
    parts, start = [], html.find("<form")
    while start != -1:
        end = html.find("</form>", start)
        if end == -1:
            parts.append(html[start:])
            break
        parts.append(html[start : end + len("</form>")])
        start = html.find("<form", end)
    return "".join(parts)


def forms_of(page: str) -> list[Form]:
    return _forms(_form_markup(page))


def post_form(page: str) -> Form | None:
    """The page's form that sends something (POST), if any."""
    return next((f for f in forms_of(page) if f.method == "post"), None)


@dataclass
class Outcome:
    """What one simulated annotator (or arrival) saw."""

    statuses: list[int] = field(default_factory=list)  # every response, redirects included
    submit_seconds: list[float] = field(default_factory=list)  # POST + the page it leads to
    submit_spans: list[tuple[float, float]] = field(default_factory=list)
    finished: bool = False
    ended_on: str = ""  # the last page's path
    busy_retries: int = 0
    error: str = ""
    reached_item: bool = False  # got a first item page (and passed the gate, if any)


def _as_the_page_script_does(data: dict[str, list[str]]) -> None:
    """What the item page's script adds at submit in a browser: the time on the item, the
    client's clock and, where the page offers it, the request for the next item in the
    response (annotation/templates/annotation/_item_js.html)."""
    data["time_on_item_ms"] = ["4200"]
    data["client_submitted_at"] = [datetime.now(UTC).isoformat()]
    if "next_in_response" in data:
        data["next_in_response"] = ["1"]


_PAGE_URL = re.compile(r'data-page-url="([^"]*)"')


def _address(response: httpx.Response) -> str:
    """The path the browser shows: a page that says its own address (the done page answering
    the last submit) has its script put it in the address bar."""
    own = _PAGE_URL.search(response.text) if response.status_code == 200 else None
    return own.group(1) if own else response.url.path


def _record(outcome: Outcome, response: httpx.Response) -> None:
    outcome.statuses.extend(r.status_code for r in response.history)
    outcome.statuses.append(response.status_code)


async def _post(client: httpx.AsyncClient, url: str, data: dict[str, list[str]]) -> httpx.Response:
    return await client.post(url, data=data, headers={"Referer": url})


class Gate:
    """Holds every annotator at their first item until all have one (or stopped): the
    judgment cycle is then measured on its own, not mixed with other annotators' arrival
    requests (bench/serving.py reports the arrival phase separately)."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrived = 0
        self.opened = asyncio.Event()
        self.opened_at = 0.0
        self.on_open: Callable[[], object] | None = None  # called once, as the gate opens

    def arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.expected and not self.opened.is_set():
            self.opened_at = time.perf_counter()
            if self.on_open is not None:
                self.on_open()
            self.opened.set()

    async def wait(self) -> None:
        self.arrive()
        await self.opened.wait()


async def annotate(
    client: httpx.AsyncClient,
    entry_url: str,
    participant: str,
    *,
    rng: random.Random,
    stop_after_consent: bool = False,
    max_steps: int = 200,
    gate: Gate | None = None,
) -> Outcome:
    """One participant from the study link to the completion page (or, for an arrival, to
    the page after consent). Judgment submits are timed until the next page is in (the
    POST's answer, or its redirect and the page it leads to), as the annotator waits.
    With `gate`, the first submit waits until every annotator is at their first item."""
    outcome = Outcome()
    try:
        return await _annotate(
            client, entry_url, participant, rng, stop_after_consent, max_steps, gate, outcome
        )
    finally:
        if gate is not None and not outcome.reached_item:
            gate.arrive()  # stopped before any item: nobody waits for them


async def _annotate(
    client: httpx.AsyncClient,
    entry_url: str,
    participant: str,
    rng: random.Random,
    stop_after_consent: bool,
    max_steps: int,
    gate: Gate | None,
    outcome: Outcome,
) -> Outcome:
    try:
        response = await client.get(
            entry_url,
            params={"PROLIFIC_PID": participant, "STUDY_ID": "bench", "SESSION_ID": participant},
        )
        for _ in range(max_steps):
            _record(outcome, response)
            outcome.ended_on = _address(response)
            if outcome.ended_on.endswith("/done/"):
                outcome.finished = True
                return outcome
            form = post_form(response.text) if response.status_code < 500 else None
            if response.status_code == 503:
                outcome.busy_retries += 1
                await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                if form is None:  # a GET's busy page reloads
                    response = await client.get(str(response.url))
                    continue
            if form is None:
                return outcome  # no work, closed study, an error page: the participant stops
            if stop_after_consent and not {"consent", "continue"} & form.names():
                outcome.finished = True
                return outcome
            data = form.fill(rng)
            url = urljoin(str(response.url), form.action)
            is_submit = "idempotency_key" in data
            if is_submit and gate is not None and not outcome.reached_item:
                outcome.reached_item = True
                await gate.wait()
            if is_submit:
                _as_the_page_script_does(data)
            started = time.perf_counter()
            response = await _post(client, url, data)
            if is_submit and response.status_code < 400:
                ended = time.perf_counter()
                outcome.submit_seconds.append(ended - started)
                outcome.submit_spans.append((started, ended))
        outcome.error = "too many steps"
    except httpx.HTTPError as error:
        outcome.error = f"{type(error).__name__}: {error}"
    return outcome
