"""Kassa's URLs plus two views that fail, for the server-error pages (tests only)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from kassa.urls import handler500
from kassa.urls import urlpatterns as kassa_urlpatterns


def boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [path("boom", boom), path("admin/boom", boom), *kassa_urlpatterns]

__all__ = ["handler500", "urlpatterns"]
