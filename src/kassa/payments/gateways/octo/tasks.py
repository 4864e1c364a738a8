"""OCTO's periodic jobs: read back stale holds, and ask again about refunds OCTO left pending."""

from __future__ import annotations

from datetime import timedelta

from django.tasks import task

from kassa.payments.gateways.octo import services as octo_services
from kassa.platform import periodic

# A refund OCTO answered "new"/"pending" is asked about again after this long; the same
# shop_refund_id makes OCTO return that refund instead of making another.
REFUND_RECHECK_AFTER = timedelta(minutes=2)


@task(queue_name="gateways")
def poll_octo_holds() -> int:
    """Periodic: holds without news for the account's hold_check_minutes are read from OCTO."""
    return octo_services.poll_stale_holds()


@task(queue_name="gateways")
def recheck_octo_refunds() -> int:
    """Periodic: resubmit pending OCTO refunds (idempotent on shop_refund_id)."""
    from kassa.payments import refunds
    from kassa.payments.models import Refund

    cutoff = octo_services.clock() - REFUND_RECHECK_AFTER
    pending = Refund.objects.filter(
        status=Refund.Status.PENDING,
        payment__gateway_account__provider="octo",
        updated_at__lte=cutoff,
    ).values_list("pk", flat=True)
    count = 0
    for refund_id in list(pending):
        refunds.submit_refund(refund_id)
        count += 1
    return count


periodic.register("payments.octo_holds", poll_octo_holds, timedelta(minutes=1))
periodic.register("payments.octo_refunds", recheck_octo_refunds, timedelta(minutes=1))
