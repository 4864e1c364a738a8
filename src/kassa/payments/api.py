"""/v1/payments, /v1/refunds, /v1/gateway_accounts, payment methods and test helpers."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router

from kassa.core.actors import Actor
from kassa.core.auth import api_key_of, organization_of, require_test_mode
from kassa.core.errors import ResourceMissing
from kassa.core.pagination import ListParams, paginate
from kassa.core.responses import for_get, for_post
from kassa.core.schemas import DateTime
from kassa.payments import accounts, inbound, refunds, repository, services
from kassa.payments.gateways.octo import services as octo_services
from kassa.payments.gateways.sandbox import provider as sandbox_provider
from kassa.payments.models import GatewayAccount, Payment, PaymentMethod, PaymentStatus, Refund
from kassa.payments.representations import (
    gateway_account_dict,
    payment_dict,
    payment_method_dict,
    refund_dict,
)
from kassa.payments.schemas import (
    CompleteIn,
    GatewayAccountIn,
    GatewayAccountList,
    GatewayAccountOut,
    GatewayAccountUpdate,
    PaymentIn,
    PaymentList,
    PaymentMethodList,
    PaymentMethodOut,
    PaymentOut,
    RefundIn,
    RefundList,
    RefundOut,
)
from kassa.payments.states import Source

router = Router(tags=["payments"])
# What the payment services may refuse with beyond the common statuses: money refusals (402),
# live keys on test helpers (403), a missing object (404) and the provider's failure (502).
WRITE_ERRORS = (402, 403, 404, 502)


def _actor(request: HttpRequest) -> Actor:
    return Actor.for_api_key(api_key_of(request), request)


def _get[T: (Payment, Refund, GatewayAccount, PaymentMethod)](
    request: HttpRequest, model: type[T], object_id: str, param: str = "id"
) -> T:
    found = repository.get_owned(model, object_id, organization_of(request).id)
    if found is None:
        raise ResourceMissing(f"No such {model._meta.verbose_name}: {object_id!r}.", param=param)
    return found


# -- payments --------------------------------------------------------------------------------


@router.post("/payments", response=for_post(PaymentOut, *WRITE_ERRORS), summary="Create a payment")
def create_payment(request: HttpRequest, body: PaymentIn) -> dict[str, Any]:
    payment = services.create_payment(
        organization_of(request),
        amount=body.amount,
        currency=body.currency,
        livemode=api_key_of(request).livemode,
        customer_id=body.customer,
        description=body.description or "",
        gateway_account_id=body.gateway_account,
        return_url_=body.return_url or "",
        metadata=body.metadata,
        save_payment_method=body.save_payment_method,
        payment_method_id=body.payment_method,
    )
    return payment_dict(payment)


@router.get("/payments/{payment_id}", response=for_get(PaymentOut, 404))
def retrieve_payment(request: HttpRequest, payment_id: str) -> dict[str, Any]:
    return payment_dict(_get(request, Payment, payment_id))


@router.get("/payments", response=for_get(PaymentList, 404))
def list_payments(
    request: HttpRequest,
    params: Query[ListParams],
    status: PaymentStatus | None = None,
    customer: str | None = None,
    created_gte: DateTime | None = None,
    created_lte: DateTime | None = None,
) -> dict[str, Any]:
    scope = Payment.objects.filter(organization=organization_of(request))
    queryset = scope
    if status:
        queryset = queryset.filter(status=status)
    if customer:
        queryset = queryset.filter(customer_id=customer)
    if created_gte:
        queryset = queryset.filter(created_at__gte=created_gte)
    if created_lte:
        queryset = queryset.filter(created_at__lte=created_lte)
    return paginate(queryset, params, "pay", payment_dict, scope=scope)


@router.post("/payments/{payment_id}/cancel", response=for_post(PaymentOut, *WRITE_ERRORS))
def cancel_payment(request: HttpRequest, payment_id: str) -> dict[str, Any]:
    payment = _get(request, Payment, payment_id)
    if octo_services.has_open_hold(payment):
        # A two-stage OCTO payment held for the merchant: release the hold, then cancel.
        return payment_dict(octo_services.cancel_hold(payment, _actor(request)))
    payment = services.cancel_payment(payment)
    return payment_dict(payment)


@router.post(
    "/payments/{payment_id}/capture",
    response=for_post(PaymentOut, *WRITE_ERRORS),
    summary="Capture a held payment (OCTO two-stage, capture=manual)",
)
def capture_payment(request: HttpRequest, payment_id: str) -> dict[str, Any]:
    payment = octo_services.capture_hold(_get(request, Payment, payment_id), _actor(request))
    return payment_dict(payment)


# -- refunds ---------------------------------------------------------------------------------


@router.post("/refunds", response=for_post(RefundOut, *WRITE_ERRORS), summary="Refund a payment")
def create_refund(request: HttpRequest, body: RefundIn) -> dict[str, Any]:
    refund = refunds.create_refund(
        organization_of(request),
        payment_id=body.payment,
        amount=body.amount,
        reason=body.reason or "",
        actor=_actor(request),
        metadata=body.metadata,
    )
    return refund_dict(refund)


@router.get("/refunds/{refund_id}", response=for_get(RefundOut, 404))
def retrieve_refund(request: HttpRequest, refund_id: str) -> dict[str, Any]:
    return refund_dict(_get(request, Refund, refund_id))


@router.get("/refunds", response=for_get(RefundList, 404))
def list_refunds(
    request: HttpRequest, params: Query[ListParams], payment: str | None = None
) -> dict[str, Any]:
    scope = Refund.objects.filter(organization=organization_of(request))
    queryset = scope.filter(payment_id=payment) if payment else scope
    return paginate(queryset, params, "re", refund_dict, scope=scope)


# -- gateway accounts ------------------------------------------------------------------------


@router.post("/gateway_accounts", response=for_post(GatewayAccountOut, *WRITE_ERRORS))
def create_gateway_account(request: HttpRequest, body: GatewayAccountIn) -> dict[str, Any]:
    account = accounts.create_gateway_account(
        organization_of(request),
        provider=body.provider,
        test_mode=body.test_mode,
        credentials=body.credentials,
        options=body.options,
        name=body.name or "",
        currencies=body.currencies,
        is_default=body.default,
        actor=_actor(request),
    )
    return gateway_account_dict(account)


@router.get("/gateway_accounts", response=for_get(GatewayAccountList, 404))
def list_gateway_accounts(request: HttpRequest, params: Query[ListParams]) -> dict[str, Any]:
    queryset = GatewayAccount.objects.filter(organization=organization_of(request))
    return paginate(queryset, params, "gwa", gateway_account_dict)


@router.get("/gateway_accounts/{account_id}", response=for_get(GatewayAccountOut, 404))
def retrieve_gateway_account(request: HttpRequest, account_id: str) -> dict[str, Any]:
    return gateway_account_dict(_get(request, GatewayAccount, account_id))


@router.post("/gateway_accounts/{account_id}", response=for_post(GatewayAccountOut, *WRITE_ERRORS))
def update_gateway_account(
    request: HttpRequest, account_id: str, body: GatewayAccountUpdate
) -> dict[str, Any]:
    account = accounts.update_gateway_account(
        _get(request, GatewayAccount, account_id),
        body.model_dump(exclude_unset=True),
        actor=_actor(request),
    )
    return gateway_account_dict(account)


@router.post(
    "/gateway_accounts/{account_id}/disable", response=for_post(GatewayAccountOut, *WRITE_ERRORS)
)
def disable_gateway_account(request: HttpRequest, account_id: str) -> dict[str, Any]:
    account = accounts.disable_gateway_account(
        _get(request, GatewayAccount, account_id), actor=_actor(request)
    )
    return gateway_account_dict(account)


# -- payment methods -------------------------------------------------------------------------


@router.get("/customers/{customer_id}/payment_methods", response=for_get(PaymentMethodList, 404))
def list_payment_methods(
    request: HttpRequest, customer_id: str, params: Query[ListParams]
) -> dict[str, Any]:
    queryset = PaymentMethod.objects.filter(
        organization=organization_of(request),
        customer_id=customer_id,
        status=PaymentMethod.Status.ACTIVE,
    )
    return paginate(queryset, params, "pm", payment_method_dict)


@router.get("/payment_methods/{method_id}", response=for_get(PaymentMethodOut, 404))
def retrieve_payment_method(request: HttpRequest, method_id: str) -> dict[str, Any]:
    return payment_method_dict(_get(request, PaymentMethod, method_id))


@router.post(
    "/payment_methods/{method_id}/detach", response=for_post(PaymentMethodOut, *WRITE_ERRORS)
)
def detach_payment_method(request: HttpRequest, method_id: str) -> dict[str, Any]:
    method = services.remove_payment_method(
        _get(request, PaymentMethod, method_id), _actor(request)
    )
    return payment_method_dict(method)


# -- test helpers ----------------------------------------------------------------------------


@router.post(
    "/test_helpers/payments/{payment_id}/complete",
    response=for_post(PaymentOut, *WRITE_ERRORS),
    tags=["test helpers"],
    summary="Decide a test payment's outcome (test-mode keys only)",
)
def complete_test_payment(
    request: HttpRequest, payment_id: str, body: CompleteIn
) -> dict[str, Any]:
    require_test_mode(request)
    payment = _get(request, Payment, payment_id)
    account = accounts.account_by_id(payment.gateway_account_id or "")
    if account is not None and account.provider == "sandbox":
        # Through the provider's signed event, as a real outcome would arrive.
        event = sandbox_provider.simulate(
            account.id, payment.id, payment.amount, payment.currency, body.outcome
        )
        secret = account.credentials["signing_secret"]
        for received in inbound.receive(
            account, sandbox_provider.signed_request(account.id, secret, event)
        ):
            if received.payment is not None and received.payment.id == payment.id:
                payment = received.payment
            else:
                payment = _get(request, Payment, payment_id)
    else:
        payment = services.apply_outcome(payment.id, body.outcome, Source.GATEWAY)
    return payment_dict(payment)
