"""Twilio's Messages API: POST /2010-04-01/Accounts/{AccountSid}/Messages.json with HTTP
Basic auth (Account SID and Auth Token) and form fields To, From (or MessagingServiceSid)
and Body; 201 with the message's `sid`. Errors carry Twilio's numeric `code`."""

from __future__ import annotations

import httpx

from kassa.config import SmsConfig
from kassa.notifications.channels import HardFailure, Refused, TransientFailure
from kassa.notifications.sms_providers import TIMEOUT

# Error codes that say the number itself cannot receive: invalid To, not a mobile number,
# the recipient replied STOP, a landline or unreachable carrier.
HARD_CODES = {21211, 21214, 21217, 21407, 21610, 21612, 21614}


class Twilio:
    name = "twilio"

    def __init__(self, config: SmsConfig) -> None:
        self.config = config
        self.url = (
            f"{config.base_url.rstrip('/')}/2010-04-01/Accounts/{config.username}/Messages.json"
        )

    def send(self, to: str, text: str, *, reference: str) -> str:
        form = {"To": to, "Body": text}
        if self.config.messaging_service:
            form["MessagingServiceSid"] = self.config.messaging_service
        else:
            form["From"] = self.config.sender
        try:
            response = httpx.post(
                self.url,
                data=form,
                auth=(self.config.username, self.config.password),
                timeout=TIMEOUT,
            )
        except httpx.HTTPError as exc:
            raise TransientFailure(f"Twilio unreachable: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        if status in {200, 201}:
            return str(body.get("sid", ""))
        code = body.get("code") if isinstance(body, dict) else None
        detail = f"Twilio answered {status} (code {code}): {str(body.get('message', ''))[:300]}"
        raw = response.headers.get("Retry-After", "").strip()
        retry_after = float(raw) if raw.isdigit() else None
        if status in {401, 429} or status >= 500:
            raise TransientFailure(detail, retry_after=retry_after)
        if code in HARD_CODES:
            raise HardFailure(detail)
        raise Refused(detail)
