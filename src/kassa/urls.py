from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from kassa.api import api
from kassa.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz),
    path("readyz", core_views.readyz),
    path("v1/", api.urls),
    re_path(r"^v1/.*$", core_views.api_not_found),
    path("admin/", admin.site.urls),
    path("portal/", include("kassa.portal.urls")),
    path("", include("kassa.payments.urls")),
    path("", include("kassa.bookings.urls")),
    path("", core_views.home),
]
