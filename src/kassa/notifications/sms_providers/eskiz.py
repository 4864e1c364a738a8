"""Eskiz.uz (notify.eskiz.uz): a bearer token from /api/auth/login (email and password, form
fields), then /api/message/sms/send with mobile_phone (digits, no +), message and from.

The token lives about 30 days; it is kept per process and fetched again when the API answers
401. Eskiz sends to Uzbek numbers (+998) on this endpoint; other numbers are refused here."""

from __future__ import annotations

import threading

import httpx

from kassa.config import SmsConfig
from kassa.notifications.channels import HardFailure, Refused, TransientFailure
from kassa.notifications.sms_providers import TIMEOUT

_tokens: dict[tuple[str, str], str] = {}
_lock = threading.Lock()


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    return float(raw) if raw.isdigit() else None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)[:300]
    return str(body)[:300]


class Eskiz:
    name = "eskiz"

    def __init__(self, config: SmsConfig) -> None:
        self.config = config
        self.base = config.base_url.rstrip("/")
        self._key = (self.base, config.username)

    def _login(self, client: httpx.Client) -> str:
        response = client.post(
            f"{self.base}/api/auth/login",
            data={"email": self.config.username, "password": self.config.password},
        )
        if response.status_code != 200:
            # Wrong credentials are fixed in the configuration; the message is retried then.
            raise TransientFailure(
                f"Eskiz login failed with {response.status_code}: {_message(response)}",
                retry_after=_retry_after(response),
            )
        token = str(response.json().get("data", {}).get("token", ""))
        if not token:
            raise TransientFailure("Eskiz login answered without a token")
        with _lock:
            _tokens[self._key] = token
        return token

    def _token(self, client: httpx.Client) -> str:
        with _lock:
            token = _tokens.get(self._key)
        return token or self._login(client)

    def send(self, to: str, text: str, *, reference: str) -> str:
        if not to.startswith("+998"):
            raise Refused("the Eskiz adapter sends to Uzbek numbers (+998) only")
        form = {"mobile_phone": to.lstrip("+"), "message": text, "from": self.config.sender}
        try:
            with httpx.Client(timeout=TIMEOUT) as client:
                token = self._token(client)
                response = self._post(client, token, form)
                if response.status_code == 401:
                    # The token expired (or was revoked): log in again, once.
                    response = self._post(client, self._login(client), form)
        except httpx.HTTPError as exc:
            raise TransientFailure(f"Eskiz unreachable: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status == 200:
            body = response.json()
            return str(body.get("id", ""))
        detail = f"Eskiz answered {status}: {_message(response)}"
        if status in {429} or status >= 500 or status == 401:
            raise TransientFailure(detail, retry_after=_retry_after(response))
        lowered = detail.lower()
        if "mobile_phone" in lowered or "number" in lowered or "номер" in lowered:
            raise HardFailure(detail)
        raise Refused(detail)

    def _post(self, client: httpx.Client, token: str, form: dict[str, str]) -> httpx.Response:
        return client.post(
            f"{self.base}/api/message/sms/send",
            data=form,
            headers={"Authorization": f"Bearer {token}"},
        )
