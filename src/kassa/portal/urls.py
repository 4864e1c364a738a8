from __future__ import annotations

from django.urls import path

from kassa.portal import views_account, views_auth, views_wallets

# The live balance stream, /portal/wallets/<id>/stream, is answered by the ASGI stream app in
# front of Django (kassa.wallets.stream_asgi), not by a view.
urlpatterns = [
    path("", views_wallets.dashboard, name="portal-dashboard"),
    path("sign-in", views_auth.sign_in, name="portal-sign-in"),
    path("sign-in/<str:token>", views_auth.sign_in_link, name="portal-sign-in-link"),
    path("sign-out", views_auth.sign_out, name="portal-sign-out"),
    path("history", views_wallets.history_page, name="portal-history"),
    path(
        "wallets/<str:wallet_id>/transactions.csv",
        views_wallets.history_csv,
        name="portal-history-csv",
    ),
    path("wallets/<str:wallet_id>/top-up", views_wallets.topup, name="portal-topup"),
    path(
        "wallets/<str:wallet_id>/top-up/preview",
        views_wallets.topup_preview,
        name="portal-topup-preview",
    ),
    path(
        "wallets/<str:wallet_id>/auto-top-up",
        views_wallets.auto_topup_settings,
        name="portal-auto-topup",
    ),
    path("payment-methods", views_account.payment_methods, name="portal-payment-methods"),
    path(
        "payment-methods/<str:method_id>/remove",
        views_account.remove_method,
        name="portal-remove-method",
    ),
    path("notifications", views_account.notifications, name="portal-notifications"),
    path("push/subscribe", views_account.push_subscribe, name="portal-push-subscribe"),
    path("push/unsubscribe", views_account.push_unsubscribe, name="portal-push-unsubscribe"),
    path("sw.js", views_account.service_worker, name="portal-service-worker"),
]
