"""The template preview in chromium: the HTML part renders in its sandboxed frame under the
admin's Content Security Policy, in the chosen language."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.core.actors import Actor
from kassa.core.services import add_staff_member
from tests.browser import page  # noqa: F401  (fixture)
from tests.conftest import make_org

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_html_part_renders_in_the_preview(live_server: Any, page: Any) -> None:  # noqa: F811
    org = make_org("Samarkand Travel")
    add_staff_member(
        org,
        email="v@samarkand.test",
        role="viewer",
        password="pw-123456-x",
        actor=Actor.system("t"),
    )
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{live_server.url}/admin/")
    page.fill("input[name=username]", "v@samarkand.test")
    page.fill("input[name=password]", "pw-123456-x")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/notifications/notification/previews/")
    page.locator('#notification-types a[href$="/test.receipt/de/"]').click()
    page.wait_for_url("**/previews/test.receipt/de/")
    frame = page.frame_locator("#preview-html")
    strong = frame.locator("strong")
    assert strong.first.inner_text() != ""
    assert "Samarkand Travel" in frame.locator("body").inner_text()
    assert "[de]" in page.locator("#preview-subject").inner_text()
    assert problems == []
