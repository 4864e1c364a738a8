"""/v1/customers: the first resource, and the pattern every other router follows."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from kassa.core.auth import organization_of
from kassa.core.errors import ResourceMissing
from kassa.core.pagination import ListParams, paginate
from kassa.core.responses import for_get, for_post
from kassa.customers import services
from kassa.customers.models import Customer
from kassa.customers.representations import customer_dict
from kassa.customers.schemas import CustomerIn, CustomerList, CustomerOut

# The operation ids are given explicitly because ninja derives them from the module path: they
# are part of the published contract (generated clients name their methods after them) and keep
# the names they had when this router lived in kassa.core.
router = Router(tags=["customers"])


def get_customer(request: HttpRequest, customer_id: str) -> Customer:
    customer = Customer.objects.filter(
        organization=organization_of(request), pk=customer_id
    ).first()
    if customer is None:
        raise ResourceMissing(f"No such customer: {customer_id!r}.", param="id")
    return customer


@router.post(
    "/customers",
    response=for_post(CustomerOut),
    summary="Create a customer",
    operation_id="kassa_core_api_create_customer",
)
def create_customer(request: HttpRequest, body: CustomerIn) -> dict[str, Any]:
    customer = services.create_customer(
        organization_of(request), body.model_dump(exclude_unset=True)
    )
    return customer_dict(customer)


@router.get(
    "/customers/{customer_id}",
    response=for_get(CustomerOut, 404),
    operation_id="kassa_core_api_retrieve_customer",
)
def retrieve_customer(request: HttpRequest, customer_id: str) -> dict[str, Any]:
    return customer_dict(get_customer(request, customer_id))


@router.post(
    "/customers/{customer_id}",
    response=for_post(CustomerOut, 404),
    operation_id="kassa_core_api_update_customer",
)
def update_customer(request: HttpRequest, customer_id: str, body: CustomerIn) -> dict[str, Any]:
    customer = services.update_customer(
        get_customer(request, customer_id), body.model_dump(exclude_unset=True)
    )
    return customer_dict(customer)


@router.get(
    "/customers",
    response=for_get(CustomerList, 404),
    operation_id="kassa_core_api_list_customers",
)
def list_customers(
    request: HttpRequest, params: Query[ListParams], email: str | None = None
) -> dict[str, Any]:
    scope = Customer.objects.filter(organization=organization_of(request))
    queryset = scope.filter(email__iexact=email) if email else scope
    return paginate(queryset, params, "cus", customer_dict, scope=scope)
