"""Auto top-up with saved sandbox cards: success, rules, declines, authentication, monitor."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.core.actors import Actor
from kassa.core.services import add_staff_member
from kassa.events.models import Event
from kassa.payments.gateways.sandbox.models import SandboxCard
from kassa.wallets import auto_topup, services
from kassa.wallets.models import AutoTopUpAttempt, Wallet
from tests.ledger.helpers import assert_ledger_balanced
from tests.mail import text_and_html
from tests.payments.conftest import CARDS

pytestmark = pytest.mark.django_db


def save_card(api: Any, wallet: Wallet, sandbox: Any, shopper: Any, tasks: Any, card: str) -> str:
    """Top up once through the checkout, saving the card; returns the payment method id."""
    topup = api.post(
        f"/v1/wallets/{wallet.id}/topups", {"amount": 1000, "save_payment_method": True}
    ).json()
    shopper.pay(topup["payment"]["checkout_url"], sandbox.id, card)
    tasks()
    methods = api.get(f"/v1/customers/{wallet.customer_id}/payment_methods").json()["data"]
    return str(methods[0]["id"])


def enable(api: Any, wallet: Wallet, method: str, **extra: Any) -> Any:
    body = {"enabled": True, "threshold": 5000, "amount": 10_000, "payment_method": method}
    response = api.put(f"/v1/wallets/{wallet.id}/auto_topup", {**body, **extra})
    assert response.status_code == 200, response.content
    return response.json()


def balance(api: Any, wallet: Wallet) -> int:
    return int(api.get(f"/v1/wallets/{wallet.id}").json()["balance"])


def test_crossing_the_threshold_tops_up_once(
    api: Any, wallet: Wallet, sandbox: Any, shopper: Any, tasks: Any, org: Any
) -> None:
    method = save_card(api, wallet, sandbox, shopper, tasks, CARDS["success"])
    assert balance(api, wallet) == 11_000
    body = enable(api, wallet, method)
    assert body["auto_topup"]["enabled"] is True
    api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 5000})  # 6000: above
    tasks()
    assert AutoTopUpAttempt.objects.count() == 0
    api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 2000})  # 4000: crosses
    api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 1000})  # 3000: already below
    tasks()
    attempts = api.get(f"/v1/wallets/{wallet.id}/auto_topup_attempts").json()["data"]
    assert [(a["status"], a["trigger"], a["balance_at_start"]) for a in attempts] == [
        ("succeeded", "charge", 3000)
    ]
    assert attempts[0]["payment"]
    assert balance(api, wallet) == 13_000
    assert Event.objects.filter(type="wallet.auto_topup.succeeded").count() == 1
    # Cooldown: a new crossing within the hour starts nothing.
    api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 9000})
    tasks()
    assert AutoTopUpAttempt.objects.count() == 1
    assert auto_topup.start(wallet.id, "monitor") == "cooldown"
    assert_ledger_balanced(org.id)


def test_rules_daily_cap_in_flight_and_monitor(
    api: Any, wallet: Wallet, sandbox: Any, shopper: Any, tasks: Any
) -> None:
    method = save_card(api, wallet, sandbox, shopper, tasks, CARDS["success"])
    api.put(
        "/v1/wallet_settings/EUR", {"auto_topup_cooldown_minutes": 0, "auto_topup_daily_limit": 2}
    )
    enable(api, wallet, method, threshold=20_000, amount=1000)
    # Enabling below the threshold starts one at once; the monitor then finds the rest.
    tasks()
    assert AutoTopUpAttempt.objects.filter(status="succeeded").count() == 1
    assert auto_topup.monitor() == 1
    tasks()
    assert AutoTopUpAttempt.objects.filter(status="succeeded").count() == 2
    assert auto_topup.start(wallet.id, "monitor") == "daily_cap"
    # Never two in flight, whoever starts them.
    first = AutoTopUpAttempt.objects.order_by("id").first()
    assert first is not None
    AutoTopUpAttempt.objects.filter(pk=first.pk).update(status="in_flight")
    api.put("/v1/wallet_settings/EUR", {"auto_topup_daily_limit": 10})
    assert auto_topup.start(wallet.id, "monitor") == "in_flight"
    assert auto_topup.monitor() == 0


def test_three_declines_disable_and_tell_everyone(
    api: Any, wallet: Wallet, sandbox: Any, shopper: Any, tasks: Any, smtp: Any, org: Any
) -> None:
    add_staff_member(org, email="boss@example.com", role="owner", actor=Actor.system("t"))
    method = save_card(api, wallet, sandbox, shopper, tasks, CARDS["success"])
    api.put("/v1/wallet_settings/EUR", {"auto_topup_cooldown_minutes": 0})
    enable(api, wallet, method)
    SandboxCard.objects.update(number=CARDS["declined"].replace(" ", ""))
    api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 7000})
    tasks()  # the crossing's attempt
    assert auto_topup.start(wallet.id, "monitor") == "failed"
    assert auto_topup.start(wallet.id, "monitor") == "failed"
    attempts = AutoTopUpAttempt.objects.order_by("id")
    assert [a.status for a in attempts] == ["failed"] * 3
    assert attempts[0].failure_code == "card_declined"
    state = api.get(f"/v1/wallets/{wallet.id}").json()["auto_topup"]
    assert state["enabled"] is False
    assert state["consecutive_failures"] == 3
    assert "3 consecutive failures" in state["disabled_reason"]
    assert auto_topup.start(wallet.id, "monitor") == "disabled"
    assert Event.objects.filter(type="wallet.auto_topup.failed").count() == 3
    assert Event.objects.filter(type="wallet.auto_topup.disabled").count() == 1
    tasks()
    recipients = sorted(addr for _, tos in smtp.envelopes for addr in tos)
    assert "ada@example.com" in recipients and "boss@example.com" in recipients
    text, html = text_and_html(next(m for m in smtp.messages if "ada@" in m["To"]))
    assert "3 times in a row" in text and "3 times in a row" in html
    # Switching it on again clears the count.
    assert enable(api, wallet, method)["auto_topup"]["consecutive_failures"] == 0
    assert balance(api, wallet) == 4000
    assert_ledger_balanced(org.id)


def test_authentication_required_emails_a_confirm_link(
    api: Any, wallet: Wallet, sandbox: Any, shopper: Any, tasks: Any, smtp: Any, org: Any
) -> None:
    from kassa.payments.gateways.sandbox.models import SandboxCharge

    method = save_card(api, wallet, sandbox, shopper, tasks, CARDS["3ds"])
    enable(api, wallet, method)
    api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 7000})
    tasks()
    attempt = AutoTopUpAttempt.objects.get()
    assert (attempt.status, attempt.failure_code) == ("requires_action", "authentication_required")
    assert attempt.topup is not None and attempt.topup.payment is not None
    assert SandboxCharge.objects.filter(payment_id=attempt.topup.payment_id).count() == 1
    message = next(m for m in smtp.messages if "ada@" in m["To"])
    text, _ = text_and_html(message)
    link = next(word for word in text.split() if "/checkout/" in word)
    assert balance(api, wallet) == 4000
    shopper.pay(link, sandbox.id, CARDS["3ds"], approve_3ds=True)
    tasks()
    attempt.refresh_from_db()
    assert attempt.status == "succeeded"
    assert balance(api, wallet) == 14_000
    assert services.get_wallet(org, wallet.id).auto_topup_failures == 0
    assert_ledger_balanced(org.id)


def test_auto_topup_validation(api: Any, wallet: Wallet, make_api: Any) -> None:
    missing = api.put(f"/v1/wallets/{wallet.id}/auto_topup", {"enabled": True})
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "payment_method"
    unknown = api.put(
        f"/v1/wallets/{wallet.id}/auto_topup", {"enabled": True, "payment_method": "pm_nope"}
    )
    assert unknown.status_code == 404
    off = api.put(f"/v1/wallets/{wallet.id}/auto_topup", {"enabled": False})
    assert off.status_code == 200


def test_monitor_closes_an_abandoned_attempt(
    api: Any, wallet: Wallet, sandbox: Any, shopper: Any, tasks: Any
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    method = save_card(api, wallet, sandbox, shopper, tasks, CARDS["success"])
    enable(api, wallet, method, threshold=20_000, amount=1000)
    # A process died after committing the attempt and before creating its payment.
    fresh = services.get_wallet(wallet.organization_id, wallet.id)
    attempt = AutoTopUpAttempt.objects.create(
        organization_id=wallet.organization_id,
        wallet=fresh,
        amount=1000,
        currency="EUR",
        trigger="charge",
        balance_at_start=fresh.ledger_account.balance,
    )
    AutoTopUpAttempt.objects.filter(pk=attempt.pk).update(
        created_at=timezone.now() - timedelta(hours=2)
    )
    assert auto_topup.start(wallet.id, "monitor") == "in_flight"
    auto_topup.monitor()
    attempt.refresh_from_db()
    assert (attempt.status, attempt.failure_code) == ("failed", "abandoned")
    assert services.get_wallet(wallet.organization_id, wallet.id).auto_topup_failures == 1
