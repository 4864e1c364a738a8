"""Tasks queued before each gateway moved into its own package (gateways/<name>/) carry the old
modules' dotted paths in their rows; after an upgrade a worker still finds and runs them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.tasks import Task
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from kassa.payments.gateways.click.tasks import release_stale_click_reservations
from kassa.payments.gateways.octo.tasks import poll_octo_holds, recheck_octo_refunds
from kassa.payments.gateways.sandbox.provider import deliver_event
from kassa.payments.models import Payment
from tests.payments.test_inbound import event_body

pytestmark = pytest.mark.django_db

OLD_PATHS = [
    (
        "kassa.payments.gateways.click_tasks.release_stale_click_reservations",
        release_stale_click_reservations,
    ),
    ("kassa.payments.gateways.octo_tasks.poll_octo_holds", poll_octo_holds),
    ("kassa.payments.gateways.octo_tasks.recheck_octo_refunds", recheck_octo_refunds),
    ("kassa.payments.gateways.sandbox_provider.deliver_event", deliver_event),
]


def queued_by_an_old_version(task: Task[Any, Any], old_path: str, *args: Any) -> str:
    """Enqueue the task, then give its row the dotted path an old version wrote."""
    result = task.enqueue(*args)
    assert task.module_path != old_path
    DBTaskResult.objects.filter(pk=result.id).update(task_path=old_path)
    return str(result.id)


@pytest.mark.parametrize(("old_path", "task"), OLD_PATHS)
def test_an_old_task_path_still_imports_the_task(old_path: str, task: Task[Any, Any]) -> None:
    assert import_string(old_path) is task


@pytest.mark.parametrize(("old_path", "task"), OLD_PATHS[:3])
def test_a_periodic_job_queued_under_its_old_path_runs(
    old_path: str, task: Task[Any, Any], tasks: Callable[[], int]
) -> None:
    row_id = queued_by_an_old_version(task, old_path)
    tasks()
    row = DBTaskResult.objects.get(pk=row_id)
    assert (row.task_path, row.status) == (old_path, "SUCCESSFUL")


def test_a_sandbox_event_queued_under_its_old_path_is_delivered(
    api: Any, sandbox: Any, tasks: Callable[[], int]
) -> None:
    payment = api.post("/v1/payments", {"amount": 7000, "currency": "EUR"}).json()
    old_path = OLD_PATHS[3][0]
    row_id = queued_by_an_old_version(
        deliver_event, old_path, sandbox.id, event_body(payment).decode()
    )
    tasks()
    assert DBTaskResult.objects.get(pk=row_id).status == "SUCCESSFUL"
    assert Payment.objects.get(pk=payment["id"]).status == "succeeded"
