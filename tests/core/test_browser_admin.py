"""The admin in chromium: its scripts run under our Content Security Policy."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.core.actors import Actor
from kassa.core.services import add_staff_member
from tests.browser import page  # noqa: F401  (fixture)
from tests.conftest import make_org

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_sign_in_and_the_admin_scripts_run(live_server: Any, page: Any) -> None:  # noqa: F811
    org = make_org("Samarkand Travel")
    add_staff_member(
        org,
        email="owner@samarkand.test",
        role="owner",
        password="pw-123456-x",
        actor=Actor.system("test"),
    )
    blocked: list[str] = []
    page.on(
        "console",
        lambda msg: blocked.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.on("pageerror", lambda exc: blocked.append(str(exc)))
    page.goto(f"{live_server.url}/admin/")
    page.fill("input[name=username]", "owner@samarkand.test")
    page.fill("input[name=password]", "pw-123456-x")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/customers/customer/")
    page.wait_for_load_state("networkidle")
    assert blocked == []
