"""The docs page (/api/docs) in Chromium, offline, under the site's Content-Security-Policy:
Swagger UI draws every operation, and the browser reports no blocked script or request."""

from __future__ import annotations

import os

import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser():
    """Chromium for this test only: Playwright's event loop must not outlive it (later tests
    call async_to_sync), so it is not the browser tests' package-wide one."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield launched
            launched.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


def test_the_docs_page_works_under_the_csp_without_the_network(browser, live_server):
    context = browser.new_context()
    # nothing but this site: a request elsewhere (a CDN) fails and is recorded
    outside = []

    def only_here(route):
        if route.request.url.startswith(live_server.url):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort()

    context.route("**/*", only_here)
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{live_server.url}/api/docs")
    page.wait_for_selector(".opblock", timeout=15000)
    shown = page.locator(".opblock-summary-path").all_inner_texts()
    assert any("/api/studies/{name}/results" in p.replace("\u200b", "") for p in shown), shown
    assert not outside, f"requests to other sites: {outside}"
    blocked = [p for p in problems if "Content Security Policy" in p or "Refused" in p]
    assert not blocked, blocked
    context.close()
