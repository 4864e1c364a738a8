from __future__ import annotations

import pytest
from django.test import Client

from kassa.core.actors import Actor
from kassa.core.models import ApiKey, AuditLogEntry
from kassa.core.services import create_api_key
from tests.conftest import make_org, staff_client

pytestmark = pytest.mark.django_db


def test_revoking_a_key_asks_for_a_reason_and_audits() -> None:
    org = make_org()
    key = create_api_key(org, actor=Actor.system("test")).key
    admin = staff_client(org, "owner", "owner@x.test")
    url = "/admin/core/apikey/"
    form = admin.post(url, {"action": "revoke_keys", "_selected_action": [key.pk], "index": 0})
    assert form.status_code == 200 and b"Reason" in form.content
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None
    done = admin.post(
        url,
        {
            "action": "revoke_keys",
            "_selected_action": [key.pk],
            "confirm": "1",
            "reason": "key leaked in a log",
        },
    )
    assert done.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    entry = AuditLogEntry.objects.get(action="api_key.revoked")
    assert entry.reason == "key leaked in a log" and entry.actor_label == "owner@x.test"


def test_new_key_is_shown_once_in_the_admin() -> None:
    org = make_org()
    admin = staff_client(org, "owner", "owner@x.test")
    response = admin.post(
        "/admin/core/apikey/add/",
        {"organization": org.id, "name": "ci", "mode": "test"},
        follow=True,
    )
    assert response.status_code == 200
    key = ApiKey.objects.get(name="ci")
    text = response.content.decode()
    assert key.prefix in text and "sk_test_" in text
    again = admin.get(f"/admin/core/apikey/{key.pk}/change/").content.decode()
    import re

    assert not re.search(r"sk_test_[A-Za-z0-9]{32}", again)


def test_only_the_admin_gets_the_looser_script_policy() -> None:
    admin_policy = Client().get("/admin/login/").headers["Content-Security-Policy"]
    site_policy = Client().get("/").headers["Content-Security-Policy"]
    assert "'unsafe-eval'" in admin_policy
    assert "'unsafe-eval'" not in site_policy
    assert "'unsafe-inline'" not in site_policy.split("script-src", 1)[1].split(";", 1)[0]
