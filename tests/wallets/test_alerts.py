"""Low-balance alerts: once per downward crossing, re-armed above, most urgent first."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.core.actors import Actor
from kassa.customers.services import create_customer
from kassa.events.models import Event
from kassa.notifications.models import Notification
from kassa.wallets import services
from kassa.wallets.models import LowBalanceAlert
from tests.mail import text_and_html

pytestmark = pytest.mark.django_db


def test_alert_once_per_crossing_and_rearmed(api: Any, make_wallet: Any, tasks: Any) -> None:
    wallet = make_wallet(10_000, low_balance_thresholds=[5000, 2000])
    charge = f"/v1/wallets/{wallet.id}/charges"
    api.post(charge, {"amount": 4000})  # 6000
    assert LowBalanceAlert.objects.count() == 0
    api.post(charge, {"amount": 1000})  # 5000: not below yet
    assert LowBalanceAlert.objects.count() == 0
    api.post(charge, {"amount": 1})  # 4999: crosses 5000
    api.post(charge, {"amount": 1000})  # 3999: still below, nothing new
    assert [(a.threshold, a.urgency) for a in LowBalanceAlert.objects.all()] == [(5000, "high")]
    api.post(charge, {"amount": 3000})  # 999: crosses 2000
    assert LowBalanceAlert.objects.filter(threshold=2000, urgency="critical").count() == 1
    services.adjust(
        services.get_wallet(wallet.organization_id, wallet.id),
        amount=9001,
        reason="top up by hand",
        actor=Actor.system("t"),
    )  # 10000: both re-armed
    api.post(charge, {"amount": 9500})  # 500: crosses both in one change
    alerts = list(LowBalanceAlert.objects.order_by("id"))
    assert [a.threshold for a in alerts] == [5000, 2000, 2000, 5000]
    # One message per change, for the most urgent threshold it crossed.
    notes = Notification.objects.filter(type="wallet.low_balance", channel="email")
    assert notes.count() == 3
    assert notes.order_by("-id").first().context["urgency"] == "critical"  # type: ignore[union-attr]
    assert Event.objects.filter(type="wallet.low_balance").count() == 4


@pytest.mark.parametrize(
    ("locale", "subject_part", "body_part"),
    [
        ("en", "Your balance is below", "Top up now"),
        ("de", "Ihr Guthaben liegt unter", "Laden Sie jetzt auf"),
        ("ru", "Ваш баланс ниже", "Пополните сейчас"),
        ("uz", "Balansingiz", "hoziroq to'ldiring"),
    ],
)
def test_alert_email_in_the_customers_language(
    org: Any, smtp: Any, tasks: Any, locale: str, subject_part: str, body_part: str
) -> None:
    customer = create_customer(org, {"email": "kim@example.com", "name": "Kim", "locale": locale})
    wallet = services.create_wallet(
        org, customer_id=customer.id, currency="EUR", low_balance_thresholds=[1000]
    )
    wallet = services.get_wallet(org, wallet.id)
    services.adjust(wallet, amount=1500, reason="funding", actor=Actor.system("t"))
    services.charge(wallet, amount=1000)
    tasks()
    message = smtp.wait_for(1)[0]
    assert subject_part in message["Subject"]
    assert "Urgent" in message["Subject"] or locale != "en"
    text, html = text_and_html(message)
    assert body_part in text and body_part in html
    assert "5" in text  # the balance, formatted for the reader
