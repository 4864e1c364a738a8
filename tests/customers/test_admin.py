"""The customer admin: organization scoping, roles, audited edits."""

from __future__ import annotations

import pytest

from kassa.core.models import AuditLogEntry
from kassa.customers.models import Customer
from kassa.customers.services import create_customer
from tests.conftest import make_org, staff_client

pytestmark = pytest.mark.django_db


def test_staff_see_only_their_organization() -> None:
    a, b = make_org("Alpha"), make_org("Beta")
    mine = create_customer(a, {"name": "Alpha Customer"})
    theirs = create_customer(b, {"name": "Beta Customer"})
    client = staff_client(a, "viewer", "v@alpha.test")
    page = client.get("/admin/customers/customer/")
    assert page.status_code == 200
    assert mine.id in page.content.decode() and theirs.id not in page.content.decode()
    assert client.get(f"/admin/customers/customer/{theirs.id}/change/").status_code in (302, 404)
    assert client.get(f"/admin/customers/customer/{mine.id}/change/").status_code == 200


def test_viewers_cannot_change_admins_can_and_edits_are_audited() -> None:
    org = make_org()
    customer = create_customer(org, {"name": "Old"})
    viewer = staff_client(org, "viewer", "viewer@x.test")
    response = viewer.post(
        f"/admin/customers/customer/{customer.id}/change/",
        {"name": "Hacked", "email": "", "phone": "", "locale": "", "metadata": "{}"},
    )
    assert response.status_code == 403
    assert Customer.objects.get(pk=customer.pk).name == "Old"
    admin = staff_client(org, "admin", "admin@x.test")
    response = admin.post(
        f"/admin/customers/customer/{customer.id}/change/",
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


def test_links_to_the_old_admin_pages_still_lead_to_the_customer() -> None:
    org = make_org()
    customer = create_customer(org, {"name": "Ann"})
    client = staff_client(org, "viewer", "v@x.test")
    old = client.get(f"/admin/core/customer/{customer.id}/change/?_changelist_filters=q%3DAnn")
    assert old.status_code == 301
    assert old["Location"] == (
        f"/admin/customers/customer/{customer.id}/change/?_changelist_filters=q%3DAnn"
    )
    assert client.get(old["Location"]).status_code == 200
