"""/v1/wallets, /v1/wallet_settings, /v1/wallet_charges, /v1/wallet_topups."""

from __future__ import annotations

import json
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from ninja import Query, Router

from kassa.core.actors import Actor
from kassa.core.auth import api_key_of, organization_of
from kassa.core.errors import ResourceMissing
from kassa.core.money import normalize_currency
from kassa.core.pagination import ListParams, paginate
from kassa.core.responses import for_get, for_post, for_put
from kassa.core.schemas import DateTime
from kassa.wallets import auto_topup, history, rules, services, topups
from kassa.wallets.models import AutoTopUpAttempt, TopUp, Wallet
from kassa.wallets.representations import attempt_dict, settings_dict, topup_dict, wallet_dict
from kassa.wallets.schemas import (
    AttemptList,
    AutoTopUpIn,
    BatchIn,
    ChargeIn,
    ChargeList,
    ChargeOut,
    TopUpIn,
    TopUpList,
    TopUpOut,
    TransactionList,
    WalletIn,
    WalletList,
    WalletOut,
    WalletSettingsIn,
    WalletSettingsOut,
    WalletUpdate,
)

router = Router(tags=["wallets"])
# Beyond the common statuses: a balance too low (402), a missing object (404), a state that
# refuses the change (409: a wallet that exists, a charge already reversed) and, for top-ups
# through a checkout, the provider's failure (502).
WRITE_ERRORS = (402, 404, 409)


def _wallet(request: HttpRequest, wallet_id: str) -> Wallet:
    return services.get_wallet(organization_of(request), wallet_id)


def _json(body: dict[str, Any]) -> HttpResponse:
    # The charge endpoints answer with ready JSON: they are the hot path, and their dicts
    # already have the documented shape (the schemas still describe them in OpenAPI).
    return HttpResponse(json.dumps(body, separators=(",", ":")), content_type="application/json")


# -- wallets ---------------------------------------------------------------------------------


@router.post("/wallets", response=for_post(WalletOut, *WRITE_ERRORS), summary="Open a wallet")
def create_wallet(request: HttpRequest, body: WalletIn) -> dict[str, Any]:
    wallet = services.create_wallet(
        organization_of(request),
        customer_id=body.customer,
        currency=body.currency,
        low_balance_thresholds=body.low_balance_thresholds,
        metadata=body.metadata,
    )
    return wallet_dict(wallet)


@router.get("/wallets", response=for_get(WalletList, 404))
def list_wallets(
    request: HttpRequest,
    params: Query[ListParams],
    customer: str | None = None,
    currency: str | None = None,
) -> dict[str, Any]:
    scope = Wallet.objects.filter(organization=organization_of(request))
    queryset = scope.select_related("ledger_account")
    if customer:
        queryset = queryset.filter(customer_id=customer)
    if currency:
        queryset = queryset.filter(currency=normalize_currency(currency))
    return paginate(queryset, params, "wal", wallet_dict, scope=scope)


@router.get("/wallets/{wallet_id}", response=for_get(WalletOut, 404))
def retrieve_wallet(request: HttpRequest, wallet_id: str) -> dict[str, Any]:
    return wallet_dict(_wallet(request, wallet_id))


@router.post("/wallets/{wallet_id}", response=for_post(WalletOut, *WRITE_ERRORS))
def update_wallet(request: HttpRequest, wallet_id: str, body: WalletUpdate) -> dict[str, Any]:
    wallet = services.update_wallet(
        _wallet(request, wallet_id), body.model_dump(exclude_unset=True)
    )
    return wallet_dict(wallet)


# -- settings --------------------------------------------------------------------------------


@router.get("/wallet_settings/{currency}", response=for_get(WalletSettingsOut, 404))
def retrieve_settings(request: HttpRequest, currency: str) -> dict[str, Any]:
    return settings_dict(
        rules.settings_for(organization_of(request).id, normalize_currency(currency))
    )


@router.put("/wallet_settings/{currency}", response=for_put(WalletSettingsOut, *WRITE_ERRORS))
def update_settings(request: HttpRequest, currency: str, body: WalletSettingsIn) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    found = rules.update_settings(
        organization_of(request),
        currency,
        changes,
        actor=Actor.for_api_key(api_key_of(request), request),
    )
    return settings_dict(found)


# -- top-ups ---------------------------------------------------------------------------------


@router.post("/wallets/{wallet_id}/topups", response=for_post(TopUpOut, *WRITE_ERRORS, 502))
def create_topup(request: HttpRequest, wallet_id: str, body: TopUpIn) -> dict[str, Any]:
    topup = topups.create_topup(
        _wallet(request, wallet_id),
        amount=body.amount,
        livemode=api_key_of(request).livemode,
        gateway_account_id=body.gateway_account,
        return_url=body.return_url or "",
        save_payment_method=body.save_payment_method,
    )
    return topup_dict(topup)


@router.get("/wallets/{wallet_id}/topups", response=for_get(TopUpList, 404))
def list_topups(request: HttpRequest, wallet_id: str, params: Query[ListParams]) -> dict[str, Any]:
    wallet = _wallet(request, wallet_id)
    queryset = TopUp.objects.select_related("payment").filter(wallet=wallet)
    return paginate(queryset, params, "wtu", topup_dict)


@router.get("/wallet_topups/{topup_id}", response=for_get(TopUpOut, 404))
def retrieve_topup(request: HttpRequest, topup_id: str) -> dict[str, Any]:
    topup = (
        TopUp.objects.select_related("payment")
        .filter(organization=organization_of(request), pk=topup_id)
        .first()
    )
    if topup is None:
        raise ResourceMissing(f"No such top-up: {topup_id!r}.", param="id")
    return topup_dict(topup)


# -- charges ---------------------------------------------------------------------------------


@router.post(
    "/wallets/{wallet_id}/charges",
    response=for_post(ChargeOut, *WRITE_ERRORS),
    summary="Charge usage against a wallet (send an Idempotency-Key)",
)
def create_charge(request: HttpRequest, wallet_id: str, body: ChargeIn) -> HttpResponse:
    key = request.headers.get("Idempotency-Key")
    result = services.charge(
        services.wallet_for_charge(organization_of(request).id, wallet_id),
        amount=body.amount,
        description=body.description or "",
        metadata=body.metadata,
        idempotency_key=key.strip() if key else None,
    )
    return _json(result)


@router.post(
    "/wallet_charges/batch",
    response=for_post(ChargeList, *WRITE_ERRORS),
    summary="Charge up to 1,000 usage records in one transaction",
)
def create_charge_batch(request: HttpRequest, body: BatchIn) -> HttpResponse:
    requests = [
        services.ChargeRequest(
            wallet_id=item.wallet,
            amount=item.amount,
            description=item.description or "",
            metadata=item.metadata,
            idempotency_key=item.idempotency_key,
        )
        for item in body.charges
    ]
    results = services.charge_batch(organization_of(request), requests)
    return _json({"object": "list", "data": results, "has_more": False})


@router.get("/wallet_charges/{charge_id}", response=for_get(ChargeOut, 404))
def retrieve_charge(request: HttpRequest, charge_id: str) -> dict[str, Any]:
    return services.get_charge(organization_of(request), charge_id)


@router.post("/wallet_charges/{charge_id}/reverse", response=for_post(ChargeOut, *WRITE_ERRORS))
def reverse_charge(request: HttpRequest, charge_id: str) -> dict[str, Any]:
    return services.reverse_charge(organization_of(request), charge_id)


# -- auto top-up -----------------------------------------------------------------------------


@router.put("/wallets/{wallet_id}/auto_topup", response=for_put(WalletOut, *WRITE_ERRORS))
def configure_auto_topup(request: HttpRequest, wallet_id: str, body: AutoTopUpIn) -> dict[str, Any]:
    wallet = auto_topup.configure(
        _wallet(request, wallet_id),
        enabled=body.enabled,
        threshold=body.threshold,
        amount=body.amount,
        payment_method_id=body.payment_method,
    )
    return wallet_dict(wallet)


@router.get("/wallets/{wallet_id}/auto_topup_attempts", response=for_get(AttemptList, 404))
def list_attempts(
    request: HttpRequest, wallet_id: str, params: Query[ListParams]
) -> dict[str, Any]:
    wallet = _wallet(request, wallet_id)
    queryset = AutoTopUpAttempt.objects.select_related("topup").filter(wallet=wallet)
    return paginate(queryset, params, "wat", attempt_dict)


# -- history ---------------------------------------------------------------------------------


class HistoryFilters(ListParams):
    type: str | None = None
    created_gte: DateTime | None = None
    created_lte: DateTime | None = None
    amount_gte: int | None = None
    amount_lte: int | None = None
    q: str | None = None


def _filtered(wallet: Wallet, filters: HistoryFilters) -> Any:
    return history.entries(
        wallet,
        types=filters.type,
        created_gte=filters.created_gte,
        created_lte=filters.created_lte,
        amount_gte=filters.amount_gte,
        amount_lte=filters.amount_lte,
        q=filters.q,
    )


@router.get("/wallets/{wallet_id}/transactions", response=for_get(TransactionList, 404))
def list_transactions(
    request: HttpRequest, wallet_id: str, filters: Query[HistoryFilters]
) -> dict[str, Any]:
    wallet = _wallet(request, wallet_id)
    return history.page(_filtered(wallet, filters), wallet, filters.limit, filters.starting_after)


@router.get(
    "/wallets/{wallet_id}/transactions.csv",
    response=for_get(None, 404),
    summary="The wallet's history as CSV, streamed (same filters, no paging)",
    openapi_extra={
        "responses": {
            200: {
                "description": "The rows as CSV, with a header line.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
def export_transactions(
    request: HttpRequest, wallet_id: str, filters: Query[HistoryFilters]
) -> StreamingHttpResponse:
    wallet = _wallet(request, wallet_id)
    queryset = _filtered(wallet, filters)
    stream = (
        history.csv_stream_async(queryset)
        if isinstance(request, ASGIRequest)
        else history.csv_stream(queryset)
    )
    response = StreamingHttpResponse(stream, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{wallet.id}-transactions.csv"'
    return response
