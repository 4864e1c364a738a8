"""/v1/bookings and /v1/payment_links."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import F, Q
from django.http import HttpRequest
from ninja import Query, Router

from kassa.bookings import clock, links, reminders, services
from kassa.bookings.models import Booking, PaymentLink
from kassa.bookings.representations import booking_dict, link_dict, reminder_dict
from kassa.bookings.schemas import (
    BookingIn,
    BookingList,
    BookingOut,
    BookingStatusName,
    CancelIn,
    InvalidateIn,
    PaymentLinkIn,
    PaymentLinkList,
    PaymentLinkOut,
    ReminderOut,
)
from kassa.core.actors import Actor
from kassa.core.auth import api_key_of, organization_of
from kassa.core.errors import InvalidRequest, ResourceMissing
from kassa.core.pagination import ListParams, paginate
from kassa.core.responses import for_get, for_post

router = Router(tags=["bookings"])
# Beyond the common statuses: a missing object (404), a state that refuses the change (409:
# a reference taken, a booking paid or cancelled) and a link that can no longer be used (410).
WRITE_ERRORS = (404, 409, 410)


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_api_key(api_key_of(request), request)


def _booking(request: HttpRequest, booking_id: str) -> Booking:
    found = (
        Booking.objects.with_amounts()
        .select_related("organization")
        .filter(organization=organization_of(request), pk=booking_id)
        .first()
    )
    if found is None:
        raise ResourceMissing(f"No such booking: {booking_id!r}.", param="id")
    return found


def _link(request: HttpRequest, link_id: str) -> PaymentLink:
    found = (
        PaymentLink.objects.select_related("booking__organization")
        .filter(organization=organization_of(request), pk=link_id)
        .first()
    )
    if found is None:
        raise ResourceMissing(f"No such payment link: {link_id!r}.", param="id")
    return found


def _fresh(booking_id: str) -> dict[str, Any]:
    return booking_dict(Booking.objects.with_amounts().get(pk=booking_id))


@router.post("/bookings", response=for_post(BookingOut, *WRITE_ERRORS), summary="Create a booking")
def create_booking(request: HttpRequest, body: BookingIn) -> dict[str, Any]:
    booking = services.create_booking(
        organization_of(request),
        customer_id=body.customer,
        reference=body.reference,
        service_date=body.service_date,
        service_time=body.service_time,
        description=body.description or "",
        total_amount=body.total_amount,
        currency=body.currency,
        deposit_paid=body.deposit_paid,
        metadata=body.metadata,
        livemode=api_key_of(request).livemode,
    )
    return _fresh(booking.id)


@router.get("/bookings/{booking_id}", response=for_get(BookingOut, 404))
def retrieve_booking(request: HttpRequest, booking_id: str) -> dict[str, Any]:
    return booking_dict(_booking(request, booking_id))


@router.get("/bookings", response=for_get(BookingList, 404))
def list_bookings(
    request: HttpRequest,
    params: Query[ListParams],
    status: BookingStatusName | None = None,
    customer: str | None = None,
    due_within_days: int | None = None,
    overdue: bool | None = None,
) -> dict[str, Any]:
    """`due_within_days=N`: a balance is due and the service date is within N days (today
    included, organization time). `overdue=true`: a balance is due and the service date has
    come."""
    organization = organization_of(request)
    scope = Booking.objects.filter(organization=organization)
    queryset = Booking.objects.with_amounts().filter(organization=organization)
    if status:
        queryset = queryset.filter(Q(derived_status=status))
    if customer:
        queryset = queryset.filter(customer_id=customer)
    today = clock.local_today(organization.timezone)
    if due_within_days is not None:
        if not 0 <= due_within_days <= 3660:
            raise InvalidRequest("due_within_days must be 0 to 3660.", param="due_within_days")
        queryset = queryset.filter(
            Q(cancelled_at__isnull=True)
            & Q(paid__lt=F("total_amount"))
            & Q(service_date__gte=today)
            & Q(service_date__lte=today + timedelta(days=due_within_days))
        )
    if overdue is not None:
        late = (
            Q(cancelled_at__isnull=True)
            & Q(paid__lt=F("total_amount"))
            & Q(service_date__lte=today)
        )
        queryset = queryset.filter(late) if overdue else queryset.exclude(late)
    return paginate(queryset, params, "bk", booking_dict, scope=scope)


@router.post("/bookings/{booking_id}/cancel", response=for_post(BookingOut, *WRITE_ERRORS))
def cancel_booking(
    request: HttpRequest, booking_id: str, body: CancelIn | None = None
) -> dict[str, Any]:
    booking = services.cancel_booking(
        _booking(request, booking_id),
        actor=_actor(request),
        reason=(body.reason if body else None) or "",
    )
    return _fresh(booking.id)


@router.post(
    "/bookings/{booking_id}/payment_links",
    response=for_post(PaymentLinkOut, *WRITE_ERRORS),
    summary="Make a single-use payment link (invalidates the booking's active one)",
)
def create_payment_link(
    request: HttpRequest, booking_id: str, body: PaymentLinkIn | None = None
) -> dict[str, Any]:
    link, _token = links.create_link(
        _booking(request, booking_id),
        actor=_actor(request),
        amount=body.amount if body else None,
        expires_at=body.expires_at if body else None,
    )
    return link_dict(link, Booking.objects.with_amounts().get(pk=link.booking_id))


@router.get("/bookings/{booking_id}/payment_links", response=for_get(PaymentLinkList, 404))
def list_payment_links(
    request: HttpRequest, booking_id: str, params: Query[ListParams]
) -> dict[str, Any]:
    booking = _booking(request, booking_id)
    queryset = PaymentLink.objects.filter(booking=booking)
    return paginate(queryset, params, "plink", lambda link: link_dict(link, booking))


@router.get("/payment_links/{link_id}", response=for_get(PaymentLinkOut, 404))
def retrieve_payment_link(request: HttpRequest, link_id: str) -> dict[str, Any]:
    return link_dict(_link(request, link_id))


@router.post(
    "/payment_links/{link_id}/invalidate", response=for_post(PaymentLinkOut, *WRITE_ERRORS)
)
def invalidate_payment_link(
    request: HttpRequest, link_id: str, body: InvalidateIn | None = None
) -> dict[str, Any]:
    link = links.invalidate_link(
        _link(request, link_id), actor=_actor(request), reason=(body.reason if body else None) or ""
    )
    return link_dict(link)


@router.post(
    "/bookings/{booking_id}/reminders",
    response=for_post(ReminderOut, *WRITE_ERRORS),
    summary="Send a balance reminder now (with a valid link)",
)
def send_reminder(request: HttpRequest, booking_id: str) -> dict[str, Any]:
    reminder = reminders.send_now(_booking(request, booking_id), actor=_actor(request))
    return reminder_dict(reminder)
