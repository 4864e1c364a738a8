from __future__ import annotations

from django.urls import path

from kassa.payments import views
from kassa.payments.gateways.sandbox import views as sandbox_views

urlpatterns = [
    path("checkout/<str:token>", views.checkout, name="checkout"),
    path("checkout/<str:token>/start", views.checkout_start, name="checkout-start"),
    path("checkout/<str:token>/return", views.checkout_return, name="checkout-return"),
    path("hooks/<str:provider>/<str:account_id>", views.provider_hook, name="provider-hook"),
    path(
        "hooks/<str:provider>/<str:account_id>/<str:action>",
        views.provider_hook,
        name="provider-hook-action",
    ),
    path("sandbox/checkout/<str:token>", sandbox_views.card_page, name="sandbox-card"),
    path(
        "sandbox/authenticate/<str:charge_id>", sandbox_views.authenticate_page, name="sandbox-3ds"
    ),
]
