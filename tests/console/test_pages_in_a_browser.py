"""The login, password and members pages in Chromium: they read well (screenshots kept in
the test's folder, or $EVALSITE_SCREENSHOTS) and axe-core finds no serious or critical
violation. A researcher logs in through the form, adds a member and makes an invitation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from console.models import Role, StudyMembership
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

from .conftest import PASSWORD, member, researcher

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    """Module scope: closed when this file is done, so the event loop Playwright's sync API
    runs does not stay open for the socket tests of this package."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing on CI")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("EVALSITE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def look(page, shots: Path, name: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    violations = Axe().run(page).response["violations"]
    bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{name}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in bad
    )


@pytest.mark.parametrize(
    "viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]
)
def test_login_and_members_pages_are_accessible(browser, live_server, study, shots, viewport):
    from playwright.sync_api import expect

    member(study, "olivia", Role.OWNER)
    member(study, "vic", Role.VIEWER)
    researcher("eddie")
    size = "desktop" if viewport["width"] > 800 else "phone"
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(15000)

    page.goto(f"{live_server.url}/console/{study.name}/members/")
    expect(page.locator("h1")).to_have_text("Log in to the evalsite console")
    look(page, shots, f"{size}-login")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", "wrong")
    page.click("#login-form button[type=submit]")
    expect(page.locator(".errorlist")).to_contain_text("correct username and password")
    look(page, shots, f"{size}-login-error")
    page.fill("#id_username", "olivia")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form button[type=submit]")

    expect(page.locator("h1")).to_have_text(f"Members of {study.name}")
    page.fill("#add-username", "eddie")
    page.select_option("#add-role", "editor")
    page.click("#add-member button")
    expect(page.locator("#messages")).to_contain_text("eddie is now a member (editor)")
    page.select_option("#invite-role", "viewer")
    page.click("#create-invitation button")
    expect(page.locator("#messages")).to_contain_text("/accounts/invitations/")
    expect(page.locator("#invitations")).to_be_visible()
    look(page, shots, f"{size}-members")
    assert StudyMembership.objects.get(study=study, user__username="eddie").role == "editor"

    page.click("text=Change password")
    expect(page.locator("h1")).to_have_text("Change your password")
    look(page, shots, f"{size}-password-change")
    page.click("#logout")
    expect(page.locator("h1")).to_have_text("Log in to the evalsite console")
    context.close()
