"""Emails printed in the terminal, readable (the default when KASSA_EMAIL_URL is unset).

Django's console backend prints a message as it would travel over SMTP: the text in
quoted-printable, so a long link is cut by a soft line break (`=` at the end of a line) and a
`Ö` reads `=C3=96`, and non-ASCII headers as RFC 2047 words. On a developer's machine those
emails are read by people, who copy the portal's sign-in link out of them; a link copied with
its soft break opens a 410. This backend prints the decoded headers, the plain-text part as
text, and each link once more on a line of its own, so it can be clicked or copied whole.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage as MimeMessage
from email.message import MIMEPart

from django.core.mail import EmailMessage
from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend

# The headers a person needs, in the order they are printed.
SHOWN_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date")
RULE = "-" * 79
# A link ends at white space or at a character that cannot be part of one in running text.
_LINK = re.compile(r"https?://[^\s<>\"'()]+")


def _parse(message: EmailMessage) -> MimeMessage:
    parsed = email.message_from_bytes(message.message().as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, MimeMessage)
    return parsed


def _text_of(part: MIMEPart) -> str:
    return str(part.get_content())


def links_in(text: str) -> list[str]:
    """Every http(s) link in `text`, once each, in order (without trailing punctuation)."""
    found: list[str] = []
    for match in _LINK.finditer(text):
        link = match.group(0).rstrip(".,;:!?")
        if link not in found:
            found.append(link)
    return found


def readable(message: EmailMessage) -> str:
    """The message as a person should see it in a terminal."""
    parsed = _parse(message)
    lines = [RULE]
    for name in SHOWN_HEADERS:
        value = parsed.get(name)
        if value:
            lines.append(f"{name}: {value}")
    bcc = list(getattr(message, "bcc", None) or [])
    if bcc:
        lines.append(f"Bcc: {', '.join(bcc)}")
    lines.append("")
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    text = _text_of(text_part).rstrip() if text_part is not None else ""
    if text:
        lines.append(text)
    elif html_part is not None:
        lines.append("(no plain-text part; the HTML part follows)")
        lines.append(_text_of(html_part).rstrip())
    if html_part is not None and text:
        lines.append("")
        lines.append(f"(an HTML part of {len(_text_of(html_part))} characters is not shown)")
    attachments = list(parsed.iter_attachments())
    if attachments:
        lines.append("")
    for attachment in attachments:
        name = attachment.get_filename() or "unnamed"
        size = len(attachment.get_payload(decode=True) or b"")
        lines.append(f"(attachment {name}, {attachment.get_content_type()}, {size} bytes)")
    links = links_in(text)
    if links:
        lines.append("")
        lines.append("Links in this email:" if len(links) > 1 else "Link in this email:")
        lines.extend(links)
    lines.append(RULE)
    return "\n".join(lines) + "\n"


class EmailBackend(DjangoConsoleBackend):
    """Django's console backend (same locking and stream), writing `readable(message)`."""

    def write_message(self, message: EmailMessage) -> None:
        self.stream.write(readable(message))
