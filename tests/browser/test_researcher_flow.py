"""A researcher watches live progress (WebSocket through the real ASGI server, daphne)
while an annotator, in another browser, judges an item."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from annotation.study_builder import build_study
from tests.live_server import DaphneServer

EXAMPLES = Path(settings.BASE_DIR) / "examples"


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_console_updates_live_when_a_judgment_lands(browser):
    from playwright.sync_api import expect

    study = build_study(EXAMPLES / "demo_pairwise.yaml").study
    get_user_model().objects.create_superuser("researcher", "r@example.org", "pw-12345")
    contexts = [browser.new_context(), browser.new_context()]
    with DaphneServer() as server:
        researcher = contexts[0].new_page()
        researcher.goto(f"{server.url}/admin/login/?next=/console/{study.name}/")
        researcher.fill("#id_username", "researcher")
        researcher.fill("#id_password", "pw-12345")
        researcher.click("input[type=submit]")
        expect(researcher.locator("[data-field=judgments]")).to_have_text("0")
        expect(researcher.locator("body")).to_have_attribute("data-live", "socket")

        annotator = contexts[1].new_page()
        annotator.goto(f"{server.url}/a/{study.name}/?PROLIFIC_PID=watch-1")
        annotator.click("#warning-continue")
        annotator.click("#consent-yes")
        with annotator.expect_navigation():
            annotator.click("#start")
        expect(annotator.locator("#progress-text")).to_contain_text("1 of")
        for key in ("a", "b", "t", "a", "b"):
            annotator.keyboard.press(key)
        with annotator.expect_navigation():
            annotator.keyboard.press("Enter")
        expect(annotator.locator("#progress-text")).to_contain_text("2 of")

        # No reload: the number changes because the server pushed it.
        expect(researcher.locator("[data-field=judgments]")).to_have_text("1", timeout=10000)
        expect(researcher.locator("[data-field='slots.leased']")).to_have_text("1")
    for context in contexts:
        context.close()
