from __future__ import annotations

from django.urls import path

from kassa.bookings import views

urlpatterns = [
    path("pay/return/<str:value>", views.pay_return, name="pay-return"),
    path("pay/<str:token>", views.pay, name="pay"),
]
