"""Test helpers for OCTO: an account pointed at the local simulator, and OCTO's side of the
notification exchange (POST signed JSON to /hooks/octo/<gwa>, read Kassa's answer)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from kassa.core.actors import Actor
from kassa.core.models import Organization
from kassa.payments.accounts import create_gateway_account
from kassa.payments.models import GatewayAccount
from tests.simulators.octo_sim import OctoSimulator


@pytest.fixture
def octo_sim() -> Iterator[OctoSimulator]:
    sim = OctoSimulator().start()
    yield sim
    sim.stop()


def make_octo_account(
    organization: Organization,
    sim: OctoSimulator,
    *,
    test_mode: bool = True,
    is_default: bool = True,
    unique_key: bool = True,
    **options: Any,
) -> GatewayAccount:
    credentials = {"shop_id": str(sim.shop_id), "secret": sim.secret}
    if unique_key:
        credentials["unique_key"] = sim.unique_key
    return create_gateway_account(
        organization,
        provider="octo",
        test_mode=test_mode,
        credentials=credentials,
        options={"api_url": sim.url, **options},
        name="OCTO",
        is_default=is_default,
        actor=Actor.system("test"),
    )


class OctoNotifier:
    """Plays OCTO's notify_url requests against Kassa."""

    def __init__(self, account: GatewayAccount, sim: OctoSimulator, client: Client | None = None):
        self.account = account
        self.sim = sim
        self.client = client or Client()

    @property
    def path(self) -> str:
        return f"/hooks/octo/{self.account.id}"

    def post_raw(self, body: bytes) -> tuple[int, dict[str, Any]]:
        response = self.client.post(self.path, body, content_type="application/json")
        try:
            answer = json.loads(response.content)
        except ValueError:
            answer = {}
        return response.status_code, answer

    def send(self, shop_transaction_id: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        body = self.sim.notification(shop_transaction_id, **kwargs)
        return self.post_raw(self.sim.encode(body))

    def ask_capture(self, shop_transaction_id: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        """The confirmation request of a two-stage payment; OCTO acts on the answer."""
        status, answer = self.send(shop_transaction_id, status="waiting_for_capture", **kwargs)
        if status == 200 and answer.get("accept_status") in ("capture", "cancel"):
            self.sim.accept(shop_transaction_id, answer["accept_status"])
        return status, answer
