"""A test client that plays Click against Kassa's SHOP API endpoints.

It behaves as the team's gateway spec (§2) describes Click: form-encoded POSTs to the Prepare
and Complete URLs, every field a string, `sign_string` an MD5 computed here independently of
Kassa's code, and it reads Kassa's flat JSON replies."""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.test import Client

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.payments.accounts import create_gateway_account
from kassa.payments.models import GatewayAccount

SECRET = "TEST_SECRET"
SERVICE_ID = "1234"
MERCHANT_ID = "5678"
SIGN_TIME = "2024-01-15 12:30:00"

_trans_ids = itertools.count(7_000_000_001)


def make_click_account(
    organization: Organization,
    *,
    test_mode: bool = True,
    is_default: bool = True,
    secret: str = SECRET,
    service_id: str = SERVICE_ID,
    options: dict[str, Any] | None = None,
) -> GatewayAccount:
    return create_gateway_account(
        organization,
        provider="click",
        test_mode=test_mode,
        credentials={
            "service_id": service_id,
            "merchant_id": MERCHANT_ID,
            "merchant_user_id": "42",
            "secret_key": secret,
        },
        options=options or {},
        name="Click",
        is_default=is_default,
        actor=Actor.system("test"),
    )


def so_m(minor: int) -> str:
    """UZS minor units as Click writes so'm: 150000 -> "1500.00"."""
    return f"{minor // 100}.{minor % 100:02d}"


def md5_sign(fields: dict[str, str], secret: str) -> str:
    """Click's formula, written out separately from Kassa's implementation."""
    if fields["action"] == "1":
        parts = [
            fields["click_trans_id"],
            fields["service_id"],
            secret,
            fields["merchant_trans_id"],
            fields["merchant_prepare_id"],
            fields["amount"],
            fields["action"],
            fields["sign_time"],
        ]
    else:
        parts = [
            fields["click_trans_id"],
            fields["service_id"],
            secret,
            fields["merchant_trans_id"],
            fields["amount"],
            fields["action"],
            fields["sign_time"],
        ]
    return hashlib.md5("".join(parts).encode(), usedforsecurity=False).hexdigest()


class ClickClient:
    """Click's side of the conversation with one gateway account."""

    def __init__(
        self,
        account: GatewayAccount,
        *,
        secret: str = SECRET,
        service_id: str = SERVICE_ID,
        client: Client | None = None,
    ) -> None:
        self.account = account
        self.secret = secret
        self.service_id = service_id
        self.client = client or Client()
        self.replies: list[dict[str, Any]] = []

    def url(self, action: str) -> str:
        return f"/hooks/click/{self.account.id}/{action}"

    @staticmethod
    def new_trans_id() -> int:
        return next(_trans_ids)

    def fields(
        self,
        action: int,
        payment_id: str,
        amount: str,
        *,
        click_trans_id: int,
        prepare_id: int | str | None = None,
        error: int = 0,
        error_note: str | None = None,
        sign_time: str = SIGN_TIME,
        paydoc_id: int | None = None,
    ) -> dict[str, str]:
        fields = {
            "click_trans_id": str(click_trans_id),
            "service_id": self.service_id,
            "click_paydoc_id": str(paydoc_id or click_trans_id + 1_000_000),
            "merchant_trans_id": payment_id,
            "amount": amount,
            "action": str(action),
            "error": str(error),
            "error_note": error_note
            if error_note is not None
            else ("Success" if not error else "Error"),
            "sign_time": sign_time,
        }
        if action == 1:
            fields["merchant_prepare_id"] = str(prepare_id)
        fields["sign_string"] = md5_sign(fields, self.secret)
        return fields

    def post(self, action: str, fields: dict[str, str] | str) -> dict[str, Any]:
        body = fields if isinstance(fields, str) else urlencode(fields)
        response = self.client.post(
            self.url(action), body, content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("application/json")
        reply: dict[str, Any] = json.loads(response.content)
        self.replies.append(reply)
        return reply

    def prepare(
        self,
        payment_id: str,
        amount: str,
        *,
        click_trans_id: int | None = None,
        tamper: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        trans_id = click_trans_id or self.new_trans_id()
        fields = self.fields(0, payment_id, amount, click_trans_id=trans_id, **kwargs)
        fields.update(tamper or {})
        return self.post("prepare", fields)

    def complete(
        self,
        payment_id: str,
        amount: str,
        prepare_id: int | str | None,
        *,
        click_trans_id: int,
        tamper: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        fields = self.fields(
            1, payment_id, amount, click_trans_id=click_trans_id, prepare_id=prepare_id, **kwargs
        )
        fields.update(tamper or {})
        return self.post("complete", fields)

    def pay(self, payment_id: str, amount: str, *, error: int = 0) -> tuple[dict, dict]:
        """One whole attempt: Prepare, then Complete with Click's `error` (0 = debited)."""
        trans_id = self.new_trans_id()
        prepared = self.prepare(payment_id, amount, click_trans_id=trans_id)
        assert prepared["error"] == 0, prepared
        completed = self.complete(
            payment_id,
            amount,
            prepared["merchant_prepare_id"],
            click_trans_id=trans_id,
            error=error,
            error_note="Insufficient funds" if error else "Success",
        )
        return prepared, completed


def link_params(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(urlsplit(url).query))
