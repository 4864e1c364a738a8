"""/v1/customers: the first resource, and the pattern every other router follows."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from kassa.core import services
from kassa.core.auth import organization_of
from kassa.core.errors import ResourceMissing
from kassa.core.models import Customer
from kassa.core.pagination import ListParams, paginate
from kassa.core.representations import customer_dict
from kassa.core.schemas import CustomerIn, CustomerList, CustomerOut, ErrorOut

router = Router(tags=["customers"])
ERRORS: dict[int, type[ErrorOut]] = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut}


def get_customer(request: HttpRequest, customer_id: str) -> Customer:
    customer = Customer.objects.filter(
        organization=organization_of(request), pk=customer_id
    ).first()
    if customer is None:
        raise ResourceMissing(f"No such customer: {customer_id!r}.", param="id")
    return customer


@router.post("/customers", response={200: CustomerOut, **ERRORS}, summary="Create a customer")
def create_customer(request: HttpRequest, body: CustomerIn) -> dict[str, Any]:
    customer = services.create_customer(
        organization_of(request), body.model_dump(exclude_unset=True)
    )
    return customer_dict(customer)


@router.get("/customers/{customer_id}", response={200: CustomerOut, **ERRORS})
def retrieve_customer(request: HttpRequest, customer_id: str) -> dict[str, Any]:
    return customer_dict(get_customer(request, customer_id))


@router.post("/customers/{customer_id}", response={200: CustomerOut, **ERRORS})
def update_customer(request: HttpRequest, customer_id: str, body: CustomerIn) -> dict[str, Any]:
    customer = services.update_customer(
        get_customer(request, customer_id), body.model_dump(exclude_unset=True)
    )
    return customer_dict(customer)


@router.get("/customers", response={200: CustomerList, **ERRORS})
def list_customers(
    request: HttpRequest, params: Query[ListParams], email: str | None = None
) -> dict[str, Any]:
    queryset = Customer.objects.filter(organization=organization_of(request))
    if email:
        queryset = queryset.filter(email__iexact=email)
    return paginate(queryset, params, "cus", customer_dict)
