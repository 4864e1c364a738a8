"""Background jobs of wallets: auto top-up attempts and their periodic monitor."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from kassa.platform import periodic
from kassa.wallets import auto_topup


@task(queue_name="gateways")
def start_auto_topup(wallet_id: str, trigger: str) -> str:
    return auto_topup.start(wallet_id, trigger)


@task()
def monitor_auto_topups() -> int:
    """Periodic: wallets below their auto top-up threshold that no charge started."""
    return auto_topup.monitor()


periodic.register("wallets.auto_topup_monitor", monitor_auto_topups, timedelta(minutes=5))
