"""The busy page in Chromium: it reads well (axe-core), retries a judgment by itself, and
the judgment is stored once.

The production server runs with a request cap of one and a short queue wait; a test view
holds the one request slot while the annotator presses Next. The submit waits, gets the busy
page, and the page sends the judgment again by itself until the slot is free: the annotator
then sees the next item, having done nothing, and one judgment is stored.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.db import connections

from annotation.models import Judgment
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.factories import make_study
from tests.live_server import ProductionServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ONE_SLOT = {
    "EVALSITE_MAX_CONCURRENT_REQUESTS": "1",
    "EVALSITE_REQUEST_QUEUE_SECONDS": "0.3",
    "EVALSITE_BUSY_RETRY_SECONDS": "1",
}


@pytest.fixture
def phone_page():
    """A phone-sized Chromium page, closed after the test: Playwright's event loop must not
    outlive it (the other tests of this folder call async_to_sync)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI: scripts/test.sh should have installed it")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 412, "height": 900}).new_page()
        page.set_default_timeout(15000)
        yield page
        browser.close()


def _orm(query, *args):
    """`query` in a thread of its own, its connection closed after. Playwright's sync API
    runs an event loop in the test's thread, where Django would keep a connection per async
    context that nothing closes (and the test database could not be dropped)."""

    def run():
        try:
            return query(*args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def _judgments(study):
    return list(Judgment.objects.filter(study=study))


def _wait_until_busy(url: str, deadline_s: float = 20) -> None:
    """Until the one request slot is taken: another request gets the busy page."""
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        if httpx.get(url, timeout=10).status_code == 503:
            return
        time.sleep(0.05)
    raise AssertionError("the hold request never took the slot")


def test_the_busy_page_reads_well_and_resends_the_judgment_by_itself(phone_page, tmp_path):
    page = phone_page
    from axe_playwright_python.sync_playwright import Axe

    study = _orm(lambda: make_study(n_batches=1, slots=1, batch_length=3))
    server = ProductionServer(
        workers=1, env=ONE_SLOT, settings_module="tests.serving.server_settings"
    )
    with server:
        page.goto(f"{server.url}/a/{study.name}/?PROLIFIC_PID=busy-browser")
        with page.expect_navigation():
            page.click("#consent-yes")
        with page.expect_navigation():
            page.click("#start")
        assert page.inner_text("#progress-text") == "1 of 3"
        slider = page.locator("input[data-slider='empathy']")
        box = slider.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2)

        holder = threading.Thread(
            target=lambda: httpx.get(f"{server.url}/test/hold/?seconds=4", timeout=30)
        )
        holder.start()
        try:
            _wait_until_busy(f"{server.url}/a/{study.name}/done/")
            with page.expect_navigation():
                page.click("#submit")
            assert page.locator("h1").inner_text() == "Many people are here right now"
            assert "tries again by itself" in page.inner_text("#busy-status")
            shots = Path(os.environ.get("EVALSITE_SCREENSHOTS") or tmp_path)
            page.screenshot(path=str(shots / "busy-page-phone.png"), full_page=True)
            violations = Axe().run(page).response["violations"]
            bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
            assert not bad, [(v["id"], v["help"]) for v in bad]
            assert _orm(_judgments, study) == []
            # The page's own retries (it backs off while the slot stays taken).
            page.wait_for_selector("#progress-text", timeout=30000)
        finally:
            holder.join(timeout=30)
        assert page.inner_text("#progress-text") == "2 of 3"
    (judgment,) = _orm(_judgments, study)
    assert 60 <= judgment.values["empathy"] <= 80
