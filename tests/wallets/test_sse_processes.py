"""Two real server processes on one PostgreSQL database: a charge posted through one appears
on a stream held by the other (the publisher's NOTIFY and the other process's LISTEN)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from kassa.core.services import IssuedKey
from tests.asgi_server import database_url, free_port, start_server_process, stop_process
from tests.wallets.sse_client import SseStream
from tests.wallets.stream_fixtures import wallet_fixture  # noqa: F401

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_charge_through_one_process_reaches_a_stream_on_another(
    api_key: IssuedKey, wallet: dict[str, Any], settings: Any, tmp_path: Path
) -> None:
    env = {
        "KASSA_DATABASE_URL": database_url(settings),
        "KASSA_SECRET_KEY": settings.SECRET_KEY,
        "KASSA_DATA_DIR": str(tmp_path),
        "KASSA_DATABASE_POOL_SIZE": "4",
    }
    port_a, port_b = free_port(), free_port()
    server_a = start_server_process(env, port_a)
    try:
        server_b = start_server_process(env, port_b)
        try:
            headers = {"Authorization": f"Bearer {api_key.secret}"}
            url = f"http://127.0.0.1:{port_b}/v1/wallets/{wallet['id']}/stream"
            with SseStream(url, headers) as stream:
                assert stream.status_code == 200
                first = stream.next_event()
                assert first.json["balance"] == 10_000
                for n, expected in ((1, 7_500), (2, 5_000)):
                    charged = httpx.post(
                        f"http://127.0.0.1:{port_a}/v1/wallets/{wallet['id']}/charges",
                        json={"amount": 2_500, "description": "minutes"},
                        headers={**headers, "Idempotency-Key": f"two-processes-{n}"},
                        timeout=20,
                    )
                    assert charged.status_code == 200, charged.text
                    event = stream.next_event()
                    assert event.json["balance"] == expected
                    assert int(event.id or 0) > int(first.id or 0)
        finally:
            stop_process(server_b)
    finally:
        stop_process(server_a)
