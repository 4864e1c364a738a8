from __future__ import annotations

import pytest
from django.test import Client

from kassa.core.actors import Actor
from kassa.core.models import ApiKey, AuditLogEntry, Customer
from kassa.core.services import create_api_key, create_customer
from tests.conftest import make_org, staff_client

pytestmark = pytest.mark.django_db


def test_staff_see_only_their_organization() -> None:
    a, b = make_org("Alpha"), make_org("Beta")
    mine = create_customer(a, {"name": "Alpha Customer"})
    theirs = create_customer(b, {"name": "Beta Customer"})
    client = staff_client(a, "viewer", "v@alpha.test")
    page = client.get("/admin/core/customer/")
    assert page.status_code == 200
    assert mine.id in page.content.decode() and theirs.id not in page.content.decode()
    assert client.get(f"/admin/core/customer/{theirs.id}/change/").status_code in (302, 404)
    assert client.get(f"/admin/core/customer/{mine.id}/change/").status_code == 200


def test_viewers_cannot_change_admins_can_and_edits_are_audited() -> None:
    org = make_org()
    customer = create_customer(org, {"name": "Old"})
    viewer = staff_client(org, "viewer", "viewer@x.test")
    response = viewer.post(
        f"/admin/core/customer/{customer.id}/change/",
        {"name": "Hacked", "email": "", "phone": "", "locale": "", "metadata": "{}"},
    )
    assert response.status_code == 403
    assert Customer.objects.get(pk=customer.pk).name == "Old"
    admin = staff_client(org, "admin", "admin@x.test")
    response = admin.post(
        f"/admin/core/customer/{customer.id}/change/",
        {"name": "New", "email": "", "phone": "", "locale": "", "metadata": "{}"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Customer.objects.get(pk=customer.pk).name == "New"
    entry = AuditLogEntry.objects.get(action="customer.updated")
    assert (
        entry.actor_label == "admin@x.test"
        and entry.before == {"name": "Old"}
        and entry.after == {"name": "New"}
    )
    assert entry.ip_address == "127.0.0.1"


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
