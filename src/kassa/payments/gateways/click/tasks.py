"""Click's periodic job: give back payments whose Click reservation went stale."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from kassa.payments.gateways.click import services as click_services
from kassa.platform import periodic


@task(queue_name="gateways")
def release_stale_click_reservations() -> int:
    """Periodic: a payment held in processing only by prepared Click attempts older than the
    account's prepare_timeout_minutes goes back to requires_action (payable again)."""
    return click_services.release_stale_reservations()


periodic.register("payments.click_release", release_stale_click_reservations, timedelta(minutes=1))
