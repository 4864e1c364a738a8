"""What a person sees when something is not there, not allowed or broken: Kassa's own pages
in their language (404, 403, the CSRF refusal, 500) and a styled server-error page in the
admin; the favicon on every page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.conftest import staff_client

pytestmark = pytest.mark.django_db


def test_an_unknown_page_is_kassas_404_in_the_readers_language() -> None:
    english = Client().get("/no-such-page")
    assert english.status_code == 404
    html = english.content.decode()
    assert 'data-status="404"' in html and "We could not find this page." in html
    assert "kassa/kassa.css" in html and "Payments by Kassa" in html
    german = Client(headers={"accept-language": "de"}).get("/no-such-page")
    assert german.status_code == 404
    assert "Diese Seite haben wir nicht gefunden." in german.content.decode()
    russian = Client(headers={"accept-language": "ru"}).get("/no-such-page")
    assert "Мы не нашли эту страницу." in russian.content.decode()
    # The API keeps its JSON error.
    assert Client().get("/v1/no-such-thing").json()["error"]["code"] == "resource_missing"


def test_a_forbidden_page_is_kassas_403(org: Any) -> None:
    viewer = staff_client(org, "viewer", "viewer@x.test")
    response = viewer.get("/admin/wallets/adjustment/add/", headers={"accept-language": "uz"})
    assert response.status_code == 403
    html = response.content.decode()
    assert 'data-status="403"' in html and "Bu sahifaga kirish huquqingiz yoʻq." in html


def test_a_form_without_its_csrf_token_gets_a_page_that_says_what_to_do() -> None:
    client = Client(enforce_csrf_checks=True, headers={"accept-language": "de"})
    response = client.post("/portal/sign-in", {"email": "anna@example.com"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "Dieses Formular ist abgelaufen." in html and "kassa/kassa.css" in html


@pytest.mark.urls("tests.core.error_urls")
def test_a_server_error_is_kassas_500_page_in_the_readers_language() -> None:
    client = Client(raise_request_exception=False, headers={"accept-language": "ru"})
    response = client.get("/boom")
    assert response.status_code == 500
    html = response.content.decode()
    assert 'data-status="500"' in html and "У нас что-то пошло не так." in html
    assert "a bug" not in html  # nothing of the failure is shown


@pytest.mark.urls("tests.core.error_urls")
def test_the_admin_has_its_own_styled_server_error_page() -> None:
    client = Client(raise_request_exception=False)
    response = client.get("/admin/boom")
    assert response.status_code == 500
    html = response.content.decode()
    assert 'id="admin-error"' in html and "Server error" in html
    assert "/static/unfold/css/styles.css" in html and 'href="/admin/"' in html
    assert "We could not find" not in html and "Payments by Kassa" not in html


def test_the_favicon_is_served_and_linked(org: Any) -> None:
    client = Client()
    ico = client.get("/favicon.ico")
    assert ico.status_code == 200
    assert b"".join(ico.streaming_content)[:4] == b"\x00\x00\x01\x00"  # an ICO file
    svg = client.get("/static/kassa/favicon.svg")
    assert svg.status_code == 200 and b"<svg" in b"".join(svg.streaming_content)
    public = client.get("/").content.decode()
    assert 'rel="icon" href="/static/kassa/favicon.svg"' in public
    assert 'href="/favicon.ico"' in public
    admin = staff_client(org, "viewer", "fav@x.test").get("/admin/").content.decode()
    assert 'href="/static/kassa/favicon.svg"' in admin
