"""A test client that plays Payme against Kassa's Merchant API endpoint.

It behaves as the team's gateway spec (§1) describes Payme: JSON-RPC 2.0 POSTs with
`Content-Type: text/json; charset=UTF-8`, `Authorization: Basic base64("Paycom:<KEY>")`
built here independently of Kassa's code, 24-character Payme ids, millisecond timestamps, and
the sandbox's habit of sending Create, Perform and Cancel twice and comparing the answers."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from typing import Any

from django.test import Client

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.payments.accounts import create_gateway_account
from kassa.payments.models import GatewayAccount

MERCHANT_ID = "5e730e8e0b852a417aa49ceb"
KEY = "TEST_KEY_0123456789abcdefghijklmnopq"  # 36 characters, like a real cash-desk key
NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z

_ids = itertools.count(1)
_request_ids = itertools.count(1000)


def make_payme_account(
    organization: Organization,
    *,
    test_mode: bool = True,
    is_default: bool = True,
    key: str = KEY,
    options: dict[str, Any] | None = None,
) -> GatewayAccount:
    return create_gateway_account(
        organization,
        provider="payme",
        test_mode=test_mode,
        credentials={"merchant_id": MERCHANT_ID, "key": key},
        options=options or {},
        name="Payme",
        is_default=is_default,
        actor=Actor.system("test"),
    )


def basic_auth(key: str, login: str = "Paycom") -> str:
    return "Basic " + base64.b64encode(f"{login}:{key}".encode()).decode()


def new_payme_id() -> str:
    """A fresh 24-hex-character id, like Payme's ObjectIds."""
    return f"{0x5305E3BAB097F420A6000000 + next(_ids):024x}"


class PaymeClient:
    """Payme's side of the conversation with one gateway account."""

    def __init__(
        self,
        account: GatewayAccount,
        *,
        key: str = KEY,
        login: str = "Paycom",
        field: str = "order_id",
        clock: Callable[[], int] | None = None,
        client: Client | None = None,
    ) -> None:
        self.account = account
        self.key = key
        self.login = login
        self.field = field
        self.clock = clock or (lambda: NOW_MS)
        self.client = client or Client()

    @property
    def url(self) -> str:
        return f"/hooks/payme/{self.account.id}"

    def raw(
        self,
        body: bytes | str,
        *,
        authorization: str | None = "default",
        method: str = "post",
    ) -> dict[str, Any]:
        headers = {}
        if authorization == "default":
            headers["Authorization"] = basic_auth(self.key, self.login)
        elif authorization is not None:
            headers["Authorization"] = authorization
        send = getattr(self.client, method)
        if method == "get":
            response = send(self.url, headers=headers)
        else:
            response = send(
                self.url, body, content_type="text/json; charset=UTF-8", headers=headers
            )
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("application/json")
        reply: dict[str, Any] = json.loads(response.content)
        return reply

    def call(self, method: str, params: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        request_id = next(_request_ids)
        reply = self.raw(
            json.dumps({"method": method, "params": params, "id": request_id}), **kwargs
        )
        assert reply["id"] == request_id, reply
        assert ("result" in reply) != ("error" in reply), reply
        return reply

    # -- the methods, as Payme sends them ---------------------------------------------------
    def account_of(self, payment_id: str) -> dict[str, Any]:
        return {self.field: payment_id}

    def check_perform(self, payment_id: str, amount: int) -> dict[str, Any]:
        return self.call(
            "CheckPerformTransaction",
            {"amount": amount, "account": self.account_of(payment_id)},
        )

    def create(
        self,
        payment_id: str,
        amount: int,
        *,
        payme_id: str | None = None,
        time: int | None = None,
    ) -> dict[str, Any]:
        return self.call(
            "CreateTransaction",
            {
                "id": payme_id or new_payme_id(),
                "time": self.clock() if time is None else time,
                "amount": amount,
                "account": self.account_of(payment_id),
            },
        )

    def perform(self, payme_id: str) -> dict[str, Any]:
        return self.call("PerformTransaction", {"id": payme_id})

    def cancel(self, payme_id: str, reason: int) -> dict[str, Any]:
        return self.call("CancelTransaction", {"id": payme_id, "reason": reason})

    def check(self, payme_id: str) -> dict[str, Any]:
        return self.call("CheckTransaction", {"id": payme_id})

    def statement(self, start: int, end: int) -> dict[str, Any]:
        return self.call("GetStatement", {"from": start, "to": end})

    def set_fiscal_data(self, payme_id: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.call("SetFiscalData", {"id": payme_id, "type": kind, "fiscal_data": data})

    def change_password(self, password: str) -> dict[str, Any]:
        return self.call("ChangePassword", {"password": password})

    # -- what the sandbox does ------------------------------------------------------------------
    def twice(self, send: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Send a call twice, as Payme's sandbox does, and require identical answers."""
        first = send()
        second = send()
        strip = {k: v for k, v in first.items() if k != "id"}
        assert strip == {k: v for k, v in second.items() if k != "id"}, (first, second)
        return first

    def pay(self, payment_id: str, amount: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """Check, Create (twice) and Perform (twice): a whole successful payment."""
        checked = self.check_perform(payment_id, amount)
        assert checked.get("result") == {"allow": True}, checked
        payme_id = new_payme_id()
        time = self.clock()
        created = self.twice(lambda: self.create(payment_id, amount, payme_id=payme_id, time=time))
        assert created.get("result", {}).get("state") == 1, created
        performed = self.twice(lambda: self.perform(payme_id))
        assert performed.get("result", {}).get("state") == 2, performed
        return payme_id, created["result"], performed["result"]


def error_code(reply: dict[str, Any]) -> int | None:
    error = reply.get("error")
    return error["code"] if error else None
