"""The Stripe gateway account in the admin: field help, the webhook URL to paste, key modes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kassa.payments.models import GatewayAccount
from tests.core.test_admin import staff_client

pytestmark = pytest.mark.django_db


def test_the_form_shows_the_webhook_url_and_the_field_help(org: Any, stripe_account: Any) -> None:
    owner = staff_client(org, "owner", "o@x.test")
    page = owner.get(f"/admin/payments/gatewayaccount/{stripe_account.id}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"/hooks/stripe/{stripe_account.id}" in text
    assert "checkout.session.completed" in text and "charge.refunded" in text  # what to select
    assert "Signing secret" in text and "sk_test_" in text  # the credentials' help
    assert "api_base" in text  # the options' help
    assert stripe_account.credentials["secret_key"] not in text
    assert stripe_account.credentials["webhook_secret"] not in text


def _add(owner: Any, org: Any, test_mode: bool, secret_key: str) -> Any:
    data = {
        "organization": org.id,
        "provider": "stripe",
        "name": "Stripe EU",
        "currencies": json.dumps(["EUR"]),
        "options": "{}",
        "status": "enabled",
        "credentials_json": json.dumps(
            {"secret_key": secret_key, "webhook_secret": "whsec_abcdef"}
        ),
    }
    if test_mode:
        data["test_mode"] = "on"
    return owner.post("/admin/payments/gatewayaccount/add/", data)


def test_a_key_of_the_other_mode_is_refused(org: Any) -> None:
    owner = staff_client(org, "owner", "o@x.test")
    refused = _add(owner, org, True, "sk_live_abcdef")
    assert refused.status_code == 200
    assert "test-mode account needs a test key" in refused.content.decode()
    assert not GatewayAccount.objects.filter(provider="stripe").exists()
    added = _add(owner, org, True, "sk_test_abcdef")
    assert added.status_code == 302, added.content.decode()[-3000:]
    account = GatewayAccount.objects.get(provider="stripe")
    assert account.credentials["secret_key"] == "sk_test_abcdef"
