"""A Web Push service on loopback that checks what a real one checks (RFC 8030/8291/8292).

`service.subscribe()` plays the browser: it makes a P-256 key pair and an auth secret and
returns the subscription (`endpoint`, `p256dh`, `auth`) to store. A POST to the endpoint must
carry `Authorization: vapid t=<JWT>, k=<public key>` whose ES256 signature verifies with k,
whose `aud` is this service's origin, whose `exp` is in the future and at most 24 h away and
whose `sub` is a mailto: or https: URL, plus `TTL` and `Content-Encoding: aes128gcm`. The body
is decrypted with the subscription's private key (http_ece); every accepted message lands in
`service.received` as `Received(token, payload, claims, vapid_key, ttl)`. Requests that fail
a check get the status a push service answers (400/401/403) and land in `service.rejected`.

`service.answer[token] = (status, headers)` makes the endpoint answer that instead (410 for a
gone subscription, 429 with Retry-After, 500...)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import http_ece
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.simulators.http import LoopbackServer, Reply, Request


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Browser:
    token: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes


@dataclass
class Received:
    token: str
    payload: dict[str, Any]
    claims: dict[str, Any]
    vapid_key: str
    ttl: int


@dataclass
class PushService:
    server: LoopbackServer | None = None
    browsers: dict[str, Browser] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    rejected: list[tuple[str, int, str]] = field(default_factory=list)
    answer: dict[str, tuple[int, dict[str, str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def origin(self) -> str:
        assert self.server is not None
        return self.server.url

    def subscribe(self) -> dict[str, str]:
        token = secrets.token_urlsafe(16)
        private = ec.generate_private_key(ec.SECP256R1())
        auth = secrets.token_bytes(16)
        self.browsers[token] = Browser(token, private, auth)
        point = private.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.origin}/push/{token}",
            "p256dh": b64url(point),
            "auth": b64url(auth),
        }

    def token_of(self, endpoint: str) -> str:
        return endpoint.rsplit("/", 1)[-1]

    # -- the protocol ---------------------------------------------------------------------

    def _reject(self, token: str, status: int, why: str) -> Reply:
        with self._lock:
            self.rejected.append((token, status, why))
        return status, {"Content-Type": "text/plain"}, why.encode()

    def _claims(self, request: Request) -> tuple[dict[str, Any], str]:
        """The verified VAPID claims and key; ValueError says what is wrong."""
        header = request.header("Authorization")
        if not header.lower().startswith("vapid "):
            raise ValueError("Authorization must use the vapid scheme")
        params = {}
        for part in header[6:].split(","):
            name, _, value = part.strip().partition("=")
            params[name.strip()] = value.strip()
        token, key = params.get("t", ""), params.get("k", "")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
        head_b64, claims_b64, signature_b64 = token.split(".")
        head = json.loads(unb64url(head_b64))
        if head.get("alg") != "ES256":
            raise ValueError(f"JWT alg must be ES256, got {head.get('alg')}")
        raw = unb64url(signature_b64)
        if len(raw) != 64:
            raise ValueError("ES256 signature must be 64 bytes (r || s)")
        signature = encode_dss_signature(
            int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        )
        try:
            public.verify(signature, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            raise ValueError("JWT signature does not verify with k") from None
        claims = json.loads(unb64url(claims_b64))
        if claims.get("aud") != self.origin:
            raise ValueError(f"aud {claims.get('aud')!r} is not {self.origin!r}")
        exp = int(claims.get("exp", 0))
        if not time.time() < exp <= time.time() + 24 * 3600:
            raise ValueError("exp must be in the future and at most 24 h away")
        sub = str(claims.get("sub", ""))
        if not sub.startswith(("mailto:", "https://")):
            raise ValueError(f"sub must be a mailto: or https: URL, got {sub!r}")
        return claims, key

    def handle(self, request: Request) -> Reply:
        if request.method != "POST" or not request.path.startswith("/push/"):
            return 404, {}, b"not found"
        token = request.path.rsplit("/", 1)[-1]
        browser = self.browsers.get(token)
        if browser is None:
            return self._reject(token, 404, "no such subscription")
        if token in self.answer:
            status, headers = self.answer[token]
            return status, headers, b""
        try:
            claims, key = self._claims(request)
        except (ValueError, KeyError) as exc:
            return self._reject(token, 403 if "signature" in str(exc) else 401, str(exc))
        if not request.header("TTL").isdigit():
            return self._reject(token, 400, "TTL header is required")
        if request.header("Content-Encoding") != "aes128gcm":
            return self._reject(token, 400, "Content-Encoding must be aes128gcm")
        try:
            plain = http_ece.decrypt(
                request.body,
                private_key=browser.private_key,
                auth_secret=browser.auth,
                version="aes128gcm",
            )
        except Exception as exc:
            return self._reject(token, 400, f"cannot decrypt: {exc!r}")
        with self._lock:
            self.received.append(
                Received(
                    token=token,
                    payload=json.loads(plain),
                    claims=claims,
                    vapid_key=key,
                    ttl=int(request.header("TTL")),
                )
            )
        return 201, {"Location": f"{self.origin}/message/{secrets.token_hex(8)}"}, b""


@pytest.fixture
def push_service() -> Iterator[PushService]:
    service = PushService()
    service.server = LoopbackServer(service.handle).start()
    try:
        yield service
    finally:
        service.server.stop()
