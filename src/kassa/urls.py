from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from kassa.api import api
from kassa.core import views as core_views

urlpatterns = [
    path("healthz", core_views.healthz),
    path("readyz", core_views.readyz),
    path("v1/", api.urls),
    re_path(r"^v1/.*$", core_views.api_not_found),
    # Customers had their admin pages under core until they became an app of their own; staff
    # bookmarks and links saved before that keep working.
    re_path(
        r"^admin/core/customer/(?P<rest>.*)$",
        RedirectView.as_view(
            url="/admin/customers/customer/%(rest)s", permanent=True, query_string=True
        ),
    ),
    path("admin/", admin.site.urls),
    path("portal/", include("kassa.portal.urls")),
    path("", include("kassa.payments.urls")),
    path("", include("kassa.bookings.urls")),
    path("", core_views.home),
]

# The 403, 404 and CSRF pages are Django's handlers with Kassa's templates (core/templates);
# the server-error page tells the admin from the public pages.
handler500 = "kassa.core.views.server_error"
