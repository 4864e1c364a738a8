"""Emails printed in the terminal (the default console email backend) read as text: decoded
headers and body, and every link whole on a line of its own."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.core.mail import EmailMultiAlternatives
from django.test import Client, override_settings

from kassa.customers.services import create_customer
from kassa.platform.console_email import links_in
from kassa.portal import signin
from tests.conftest import make_org

CONSOLE = {"default": {"BACKEND": "kassa.platform.console_email.EmailBackend"}}

pytestmark = pytest.mark.django_db


@override_settings(MAILERS=CONSOLE, KASSA_BASE_URL="http://127.0.0.1:8000")
def test_a_german_sign_in_email_is_printed_decoded_with_a_link_that_works(
    capsys: pytest.CaptureFixture[str], tasks: Callable[[], int]
) -> None:
    org = make_org("Bäckerei Müller Reisen", currency="EUR", locale="de")
    create_customer(org, {"email": "joerg@example.com", "name": "Jörg Überall", "locale": "de"})
    capsys.readouterr()

    assert signin.request_link("joerg@example.com", ip_address=None, page_locale="de") == 1
    tasks()
    printed = capsys.readouterr().out

    # No transfer encoding shows: neither quoted-printable nor RFC 2047 words.
    assert "=C3=" not in printed and "=?utf-8?" not in printed.lower()
    assert "Subject: " in printed and "Bäckerei Müller Reisen" in printed
    assert "To: joerg@example.com" in printed
    assert "Hallo Jörg Überall," in printed
    assert "Öffnen Sie diesen Link" in printed
    # The link is longer than a quoted-printable line: whole, on a line of its own, twice
    # (in the text, and once more below it).
    lines = printed.splitlines()
    links = [
        line for line in lines if re.fullmatch(r"http://127\.0\.0\.1:8000/portal/sign-in/\S+", line)
    ]
    assert len(links) == 2 and links[0] == links[1] and len(links[0]) > 76
    assert "Link in this email:" in printed
    assert "HTML part" in printed

    # The printed link is the one that signs in.
    page = Client().get(links[0].removeprefix("http://127.0.0.1:8000"))
    assert page.status_code == 200


@override_settings(MAILERS=CONSOLE)
def test_html_only_emails_attachments_and_links_at_the_end_of_a_sentence(
    capsys: pytest.CaptureFixture[str],
) -> None:
    long_link = "https://pay.example.com/pay/" + "x" * 90
    message = EmailMultiAlternatives(
        subject="Straße",
        body=f"Bitte zahlen: {long_link}. Oder {long_link}, danach https://example.com/ä.",
        from_email="Kassa <kassa@localhost>",
        to=["a@example.com"],
        bcc=["audit@example.com"],
    )
    message.attach("rechnung.txt", "Größe", "text/plain")
    message.send()
    html_only = EmailMultiAlternatives(
        subject="Nur HTML", from_email="kassa@localhost", to=["b@example.com"]
    )
    html_only.attach_alternative("<p>Grüße</p>", "text/html")
    html_only.send()

    printed = capsys.readouterr().out
    assert "Subject: Straße" in printed and "Bcc: audit@example.com" in printed
    # Named and sized (the text as sent: UTF-8, with the line end the encoder adds).
    assert re.search(r"^\(attachment rechnung\.txt, text/plain, [78] bytes\)$", printed, re.M)
    assert "Links in this email:" in printed
    assert f"\n{long_link}\nhttps://example.com/ä\n" in printed
    assert "(no plain-text part; the HTML part follows)\n<p>Grüße</p>" in printed


def test_links_are_found_once_without_trailing_punctuation() -> None:
    text = "See https://a.example/x. Again (https://a.example/x), and http://b.example/?q=1!"
    assert links_in(text) == ["https://a.example/x", "http://b.example/?q=1"]
