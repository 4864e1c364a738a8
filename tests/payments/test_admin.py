"""Finance staff in the admin: manual completion and failure with a reason, refunds, exports."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from kassa.core.models import AuditLogEntry
from kassa.ledger.models import LedgerTransaction
from kassa.payments.models import GatewayEvent, Payment
from tests.core.test_admin import staff_client
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.conftest import CARDS

pytestmark = pytest.mark.django_db
URL = "/admin/payments/payment/"


def run_action(client: Any, name: str, ids: list[str], reason: str | None) -> Any:
    data: dict[str, Any] = {"action": name, "_selected_action": ids}
    if reason is not None:
        data |= {"confirm": "1", "reason": reason}
    else:
        data["index"] = 0
    return client.post(URL, data)


def test_mark_succeeded_needs_a_reason_and_is_audited(api: Any, sandbox: Any, org: Any) -> None:
    payment = api.post("/v1/payments", {"amount": 5000, "currency": "EUR"}).json()
    finance = staff_client(org, "finance", "fin@x.test")
    form = run_action(finance, "mark_succeeded", [payment["id"]], None)
    assert form.status_code == 200 and b"Reason" in form.content
    assert Payment.objects.get(pk=payment["id"]).status == "pending"
    too_short = run_action(finance, "mark_succeeded", [payment["id"]], "x")
    assert too_short.status_code == 200  # the form again, nothing done
    assert Payment.objects.get(pk=payment["id"]).status == "pending"
    done = run_action(
        finance, "mark_succeeded", [payment["id"]], "bank transfer seen in statement 4711"
    )
    assert done.status_code == 302
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
    entry = AuditLogEntry.objects.get(action="payment.marked_succeeded")
    assert (entry.actor_label, entry.reason, entry.object_id) == (
        "fin@x.test",
        "bank transfer seen in statement 4711",
        payment["id"],
    )
    assert entry.before == {"status": "pending"} and entry.after == {"status": "succeeded"}
    assert LedgerTransaction.objects.filter(reference=payment["id"]).count() == 1
    assert_ledger_balanced(org.id)


def test_mark_failed_and_viewers_cannot(api: Any, sandbox: Any, org: Any) -> None:
    payment = api.post("/v1/payments", {"amount": 5000, "currency": "EUR"}).json()
    viewer = staff_client(org, "viewer", "view@x.test")
    response = run_action(viewer, "mark_failed", [payment["id"]], "customer gave up")
    assert Payment.objects.get(pk=payment["id"]).status == "pending"
    assert response.status_code in (200, 302, 403)
    finance = staff_client(org, "finance", "fin@x.test")
    run_action(finance, "mark_failed", [payment["id"]], "customer gave up")
    failed = Payment.objects.get(pk=payment["id"])
    assert (failed.status, failed.failure_code) == ("failed", "marked_failed")
    assert AuditLogEntry.objects.filter(action="payment.marked_failed").count() == 1


def test_refund_from_the_admin(pay: Any, org: Any) -> None:
    payment = pay(CARDS["success"], amount=5000, currency="EUR")
    finance = staff_client(org, "finance", "fin@x.test")
    run_action(finance, "refund_in_full", [payment["id"]], "double booking")
    assert Payment.objects.get(pk=payment["id"]).amount_refunded == 5000
    assert AuditLogEntry.objects.get(action="refund.created").reason == "double booking"
    assert_ledger_balanced(org.id)


def test_detail_page_shows_the_timeline(pay: Any, org: Any) -> None:
    payment = pay(CARDS["success"], amount=5000, currency="EUR")
    page = (
        staff_client(org, "viewer", "v@x.test")
        .get(f"{URL}{payment['id']}/change/")
        .content.decode()
    )
    for text in (
        "payment.created",
        "payment.succeeded",
        "charge.succeeded",
        "ledger payment",
        "gateway sandbox",
    ):
        assert text in page, text


def test_csv_export_follows_the_filters(api: Any, pay: Any, org: Any) -> None:
    paid = pay(CARDS["success"], amount=5000, currency="EUR")
    open_one = api.post("/v1/payments", {"amount": 100, "currency": "EUR"}).json()
    client = staff_client(org, "viewer", "v@x.test")
    response = client.get(f"{URL}export-csv/?status__exact=succeeded")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["id"] for r in rows] == [paid["id"]]
    assert rows[0]["amount"] == "5000" and rows[0]["currency"] == "EUR"
    everything = client.get(f"{URL}export-csv/")
    ids = {
        r["id"]
        for r in csv.DictReader(io.StringIO(b"".join(everything.streaming_content).decode()))
    }
    assert ids == {paid["id"], open_one["id"]}


def test_other_organizations_payments_are_invisible(pay: Any) -> None:
    from tests.conftest import make_org

    payment = pay(CARDS["success"], amount=5000, currency="EUR")
    stranger = staff_client(make_org("Other"), "owner", "o@other.test")
    assert payment["id"] not in stranger.get(URL).content.decode()
    assert stranger.get(f"{URL}{payment['id']}/change/").status_code in (302, 404)
    export = b"".join(stranger.get(f"{URL}export-csv/").streaming_content).decode()
    assert payment["id"] not in export


def test_reprocess_a_failed_gateway_event(sandbox: Any, org: Any, tasks: Any) -> None:
    from kassa.core.ids import new_id
    from kassa.payments import inbound
    from kassa.payments.gateways.sandbox import provider as sandbox_provider
    from tests.payments.test_inbound import event_body

    future = new_id("pay")
    body = event_body({"id": future, "amount": 900, "currency": "EUR"}).decode()
    record = inbound.receive(
        sandbox,
        sandbox_provider.signed_request(sandbox.id, sandbox.credentials["signing_secret"], body),
    )[0].record
    GatewayEvent.objects.filter(pk=record.pk).update(status="failed", attempts=7)
    Payment.objects.create(
        id=future, organization=org, amount=900, currency="EUR", gateway_account=sandbox
    )
    finance = staff_client(org, "finance", "fin@x.test")
    finance.post(
        "/admin/payments/gatewayevent/",
        {
            "action": "reprocess",
            "_selected_action": [record.id],
            "confirm": "1",
            "reason": "payment now exists",
        },
    )
    tasks()
    assert GatewayEvent.objects.get(pk=record.pk).status == "processed"
    assert Payment.objects.get(pk=future).status == "succeeded"


def test_gateway_account_admin_shows_callbacks_and_badge(sandbox: Any, org: Any) -> None:
    owner = staff_client(org, "owner", "o@x.test")
    listing = owner.get("/admin/payments/gatewayaccount/").content.decode()
    assert "kassa-test" in listing
    page = owner.get(f"/admin/payments/gatewayaccount/{sandbox.id}/change/").content.decode()
    assert f"/hooks/sandbox/{sandbox.id}" in page
    assert sandbox.credentials["signing_secret"] not in page


def test_the_timeline_and_refunds_show_money_not_minor_units(pay: Any, org: Any, api: Any) -> None:
    payment = pay(amount=150_000, currency="UZS")
    assert payment["status"] == "succeeded"
    refund = api.post("/v1/refunds", {"payment": payment["id"], "amount": 50_000})
    assert refund.status_code == 200, refund.content
    viewer = staff_client(org, "viewer", "timeline@x.test")
    page = viewer.get(f"{URL}{payment['id']}/change/").content.decode()
    assert "+UZS\xa01,500.00" in page and "-UZS\xa0500.00" in page
    assert "+150000" not in page and "-50000" not in page
    refunds = viewer.get("/admin/payments/refund/").content.decode()
    assert "UZS\xa0500.00" in refunds
