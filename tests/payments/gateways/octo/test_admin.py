"""OCTO in the admin and the API: the account form's help and callback URL, the test badge,
capturing and cancelling holds (with a reason, audited), tenant scoping, translations."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation

from kassa.core.models import AuditLogEntry
from kassa.ledger.models import LedgerTransaction
from kassa.payments.gateways.octo.models import OctoPayment
from kassa.payments.models import GatewayAccount, Payment
from tests.conftest import make_org
from tests.core.test_admin import staff_client
from tests.ledger.helpers import assert_ledger_balanced
from tests.payments.conftest import Shopper
from tests.payments.gateways.octo.client import OctoNotifier, make_octo_account
from tests.simulators.octo_sim import OctoSimulator

pytestmark = pytest.mark.django_db
URL = "/admin/payments/octopayment/"


@pytest.fixture
def sim() -> Iterator[OctoSimulator]:
    simulator = OctoSimulator().start()
    yield simulator
    simulator.stop()


@pytest.fixture
def manual(org: Any, sim: OctoSimulator) -> GatewayAccount:
    return make_octo_account(org, sim, capture="manual")


def held_payment(api: Any, account: GatewayAccount, sim: OctoSimulator) -> str:
    payment = api.post("/v1/payments", {"amount": 150000, "currency": "UZS"}).json()
    Shopper().choose(payment["checkout_url"], account.id)
    sim.customer_pays(payment["id"])
    assert OctoNotifier(account, sim).ask_capture(payment["id"]) == (200, {"received": True})
    assert Payment.objects.get(pk=payment["id"]).status == "processing"
    return str(payment["id"])


def run_action(client: Any, name: str, ids: list[int], reason: str) -> Any:
    return client.post(
        URL, {"action": name, "_selected_action": ids, "confirm": "1", "reason": reason}
    )


def test_account_form_shows_field_help_callback_url_and_badge(org: Any, sim: OctoSimulator) -> None:
    account = make_octo_account(org, sim)
    owner = staff_client(org, "owner", "o@x.test")
    assert "kassa-test" in owner.get("/admin/payments/gatewayaccount/").content.decode()
    page = owner.get(f"/admin/payments/gatewayaccount/{account.id}/change/").content.decode()
    assert f"/hooks/octo/{account.id}" in page and "notify_url" in page
    assert "signature_scheme" in page and "UNCONFIRMED" in page
    assert "unique_key" in page and "shop_id" in page
    assert sim.secret not in page and sim.unique_key not in page


def test_staff_capture_a_hold(
    api: Any, manual: GatewayAccount, sim: OctoSimulator, org: Any
) -> None:
    pay = held_payment(api, manual, sim)
    attempt = OctoPayment.objects.get(payment_id=pay)
    finance = staff_client(org, "finance", "fin@x.test")
    listing = finance.get(URL).content.decode()
    assert attempt.shop_transaction_id in listing and "1,500.00" in listing
    assert run_action(finance, "capture_hold", [attempt.pk], "goods shipped").status_code == 302
    assert Payment.objects.get(pk=pay).status == "succeeded"
    entry = AuditLogEntry.objects.get(action="payment.octo_capture")
    assert (entry.actor_label, entry.reason, entry.object_id) == (
        "fin@x.test",
        "goods shipped",
        pay,
    )
    assert LedgerTransaction.objects.filter(reference=pay).count() == 1
    assert_ledger_balanced(org.id)


def test_staff_cancel_a_hold_and_viewers_cannot(
    api: Any, manual: GatewayAccount, sim: OctoSimulator, org: Any
) -> None:
    pay = held_payment(api, manual, sim)
    attempt = OctoPayment.objects.get(payment_id=pay)
    viewer = staff_client(org, "viewer", "v@x.test")
    run_action(viewer, "cancel_hold", [attempt.pk], "out of stock")
    assert Payment.objects.get(pk=pay).status == "processing"
    assert sim.bodies("set_accept") == []
    finance = staff_client(org, "finance", "fin@x.test")
    run_action(finance, "cancel_hold", [attempt.pk], "out of stock")
    assert Payment.objects.get(pk=pay).status == "canceled"
    assert sim.bodies("set_accept")[0]["accept_status"] == "cancel"
    assert AuditLogEntry.objects.filter(action="payment.octo_cancel").count() == 1
    assert_ledger_balanced(org.id)


def test_other_organizations_octo_payments_are_invisible(
    api: Any, manual: GatewayAccount, sim: OctoSimulator
) -> None:
    pay = held_payment(api, manual, sim)
    attempt = OctoPayment.objects.get(payment_id=pay)
    stranger = staff_client(make_org("Other"), "owner", "o@other.test")
    assert attempt.shop_transaction_id not in stranger.get(URL).content.decode()
    assert stranger.get(f"{URL}{attempt.pk}/change/").status_code in (302, 404)
    run_action(stranger, "capture_hold", [attempt.pk], "not mine")
    assert Payment.objects.get(pk=pay).status == "processing"


def test_api_capture_and_cancel(
    api: Any, manual: GatewayAccount, sim: OctoSimulator, org: Any, make_api: Any
) -> None:
    first = held_payment(api, manual, sim)
    assert make_api(make_org("Other")).post(f"/v1/payments/{first}/capture").status_code == 404
    captured = api.post(f"/v1/payments/{first}/capture")
    assert captured.status_code == 200 and captured.json()["status"] == "succeeded"
    again = api.post(f"/v1/payments/{first}/capture")
    assert again.status_code == 409 and again.json()["error"]["code"] == "hold_not_open"
    second = held_payment(api, manual, sim)
    canceled = api.post(f"/v1/payments/{second}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert sim.payments[second].status == "canceled"
    assert AuditLogEntry.objects.filter(action="payment.octo_cancel").get().actor_type == "api_key"
    assert LedgerTransaction.objects.filter(reference=first).count() == 1
    assert not LedgerTransaction.objects.filter(reference=second).exists()
    assert_ledger_balanced(org.id)


def test_capture_of_a_payment_without_a_hold_is_refused(api: Any, manual: GatewayAccount) -> None:
    payment = api.post("/v1/payments", {"amount": 150000, "currency": "UZS"}).json()
    response = api.post(f"/v1/payments/{payment['id']}/capture")
    assert response.status_code == 409 and response.json()["error"]["code"] == "hold_not_open"
    assert Payment.objects.get(pk=payment["id"]).status == "pending"


@pytest.mark.parametrize(
    ("lang", "name", "action"),
    [
        ("de", "OCTO-Zahlung", "Reservierten Betrag einziehen"),
        ("ru", "Платёж OCTO", "Списать удержанную сумму"),
        ("uz", "OCTO to‘lovi", "Ushlab turilgan summani yechib olish"),
        ("en", "OCTO payment", "Capture the held amount"),
    ],
)
def test_octo_texts_are_translated(lang: str, name: str, action: str) -> None:
    from kassa.payments.admin import OctoPaymentAdmin

    with translation.override(lang):
        assert str(OctoPayment._meta.verbose_name) == name
        described = [str(a.short_description) for a in OctoPaymentAdmin.actions]  # type: ignore[union-attr]
        assert action in described
