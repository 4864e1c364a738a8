"""The wallets admin: lists, history, attempts, and adjustments with a reason (audited)."""

from __future__ import annotations

from typing import Any

import pytest

from kassa.core.models import AuditLogEntry
from kassa.wallets.models import Adjustment, Wallet, WalletSettings
from kassa.wallets.services import get_wallet
from tests.conftest import make_org
from tests.core.test_admin import staff_client
from tests.ledger.helpers import assert_ledger_balanced

pytestmark = pytest.mark.django_db


def test_staff_see_wallets_and_history(api: Any, wallet: Wallet, org: Any) -> None:
    api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 1234, "description": "calls"})
    viewer = staff_client(org, "viewer", "view@x.test")
    listing = viewer.get("/admin/wallets/wallet/")
    assert listing.status_code == 200 and wallet.id.encode() in listing.content
    detail = viewer.get(f"/admin/wallets/wallet/{wallet.id}/change/")
    assert detail.status_code == 200 and b"87.66" in detail.content
    history = viewer.get(f"/admin/wallets/wallettransaction/?account__owner_id={wallet.id}")
    assert history.status_code == 200 and b"calls" in history.content
    assert viewer.get("/admin/wallets/autotopupattempt/").status_code == 200
    assert viewer.get("/admin/wallets/topup/").status_code == 200
    # A viewer may not adjust.
    assert viewer.get("/admin/wallets/adjustment/add/").status_code == 403
    stranger = staff_client(make_org("Other"), "owner", "other@x.test")
    assert wallet.id.encode() not in stranger.get("/admin/wallets/wallet/").content
    assert stranger.get(f"/admin/wallets/wallet/{wallet.id}/change/").status_code in (302, 404)


def test_adjustment_needs_reason_and_is_audited(wallet: Wallet, org: Any) -> None:
    finance = staff_client(org, "finance", "fin@x.test")
    form = finance.get(f"/admin/wallets/adjustment/add/?wallet={wallet.id}")
    assert form.status_code == 200
    no_reason = finance.post(
        "/admin/wallets/adjustment/add/", {"wallet": wallet.id, "amount": 500, "reason": " "}
    )
    assert no_reason.status_code == 200  # the form again
    assert Adjustment.objects.count() == 1  # the fixture's funding only
    done = finance.post(
        "/admin/wallets/adjustment/add/",
        {"wallet": wallet.id, "amount": -500, "reason": "double-billed call 17"},
    )
    assert done.status_code == 302
    assert get_wallet(org, wallet.id).ledger_account.balance == 9500
    entry = AuditLogEntry.objects.filter(action="wallet.adjusted").order_by("-id").first()
    assert entry is not None
    assert (entry.actor_label, entry.reason) == ("fin@x.test", "double-billed call 17")
    refused = finance.post(
        "/admin/wallets/adjustment/add/",
        {"wallet": wallet.id, "amount": -99_999, "reason": "far too much"},
        follow=True,
    )
    assert b"below its floor" in refused.content
    assert get_wallet(org, wallet.id).ledger_account.balance == 9500
    assert_ledger_balanced(org.id)


def test_thresholds_limits_and_tiers_read_as_money(
    make_wallet: Any, org: Any, customer: Any
) -> None:
    from kassa.core.actors import Actor
    from kassa.wallets.rules import update_settings

    wallet = make_wallet(10_000, low_balance_thresholds=[1_000, 500])
    Wallet.objects.filter(pk=wallet.id).update(auto_topup_threshold=2_000, auto_topup_amount=5_000)
    update_settings(
        org,
        "EUR",
        {
            "min_topup": 500,
            "max_topup": 50_000,
            "credit_limit": 1_000,
            "bonus_tiers": [
                {"min_amount": 5_000, "basis_points": 500},
                {"min_amount": 10_000, "basis_points": 1_250},
            ],
        },
        actor=Actor.system("t"),
    )
    viewer = staff_client(org, "viewer", "view@x.test")
    detail = viewer.get(f"/admin/wallets/wallet/{wallet.id}/change/").content.decode()
    assert "€10.00 · €5.00" in detail  # the low-balance alerts
    assert "€20.00" in detail and "€50.00" in detail  # auto top-up below, and by
    assert "[1000, 500]" not in detail
    owner = staff_client(org, "owner", "owner@x.test")
    listing = owner.get("/admin/wallets/walletsettings/").content.decode()
    assert "€10.00" in listing and "€5.00" in listing and "€500.00" in listing
    assert "from €50.00: +5 % · from €100.00: +12.5 %" in listing
    rules = WalletSettings.objects.get(organization=org, currency="EUR")
    form = owner.get(f"/admin/wallets/walletsettings/{rules.pk}/change/").content.decode()
    assert "from €50.00: +5 %" in form and "In minor units" in form


def test_the_ledger_admin_shows_money(api: Any, wallet: Wallet, org: Any) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    from kassa.ledger.models import LedgerTransaction

    api.post(f"/v1/wallets/{wallet.id}/charges", {"amount": 1234, "description": "calls"})
    viewer = staff_client(org, "viewer", "ledger@x.test")
    accounts = viewer.get("/admin/ledger/ledgeraccount/").content.decode()
    assert "€87.66" in accounts and ">8766<" not in accounts
    # The entries of a transaction (shown to superusers: the inline has no organization scope).
    root = Client()
    root.force_login(User.objects.create_superuser("root", "root@x.test", "pw-123456-x"))
    charge = LedgerTransaction.objects.filter(description="calls").get()
    page = root.get(f"/admin/ledger/ledgertransaction/{charge.pk}/change/").content.decode()
    assert "-€12.34" in page and "+€12.34" in page
