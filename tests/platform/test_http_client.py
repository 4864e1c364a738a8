"""The webhook HTTP client against raw local servers: keep-alive, chunked and close-delimited
bodies, a stale pooled connection, the body head limit, TLS with certificate checks, SSRF."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.test import override_settings

from kassa.platform.http_client import HttpClient, RefusedAddress

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


async def serve(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_context)


def port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=True)
def test_keep_alive_chunked_and_close_delimited_bodies() -> None:
    connections = 0
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while True:
            try:
                head, body = await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            seen.append(head + body)
            if b"/chunked" in head:
                writer.write(
                    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
                    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                )
            elif b"/close" in head:
                writer.write(b"HTTP/1.1 503 Busy\r\nretry-after: 7\r\nconnection: close\r\n\r\nbye")
                await writer.drain()
                writer.close()
                return
            else:
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()

    async def run() -> None:
        server = await serve(handler)
        base = f"http://127.0.0.1:{port_of(server)}"
        async with HttpClient() as client:
            first = await client.post(f"{base}/a?x=1", b'{"a":1}', {"webhook-id": "evt_1"})
            second = await client.post(f"{base}/chunked", b"{}", {})
            third = await client.post(f"{base}/close", b"{}", {})
            fourth = await client.post(f"{base}/a", b"{}", {})
        server.close()
        assert first.status == 204 and first.body_head == b""
        assert second.status == 200 and second.body_head == b"hello world"
        assert third.status == 503 and third.headers["retry-after"] == "7"
        assert third.body_head == b"bye"
        assert fourth.status == 204

    asyncio.run(run())
    # The first three share a connection; the server closed it after the third.
    assert connections == 2
    assert seen[0].startswith(b"POST /a?x=1 HTTP/1.1\r\n")
    assert b"webhook-id: evt_1\r\n" in seen[0] and seen[0].endswith(b'{"a":1}')
    assert b"content-length: 7\r\n" in seen[0]


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=True)
def test_a_stale_pooled_connection_is_replaced_and_the_head_is_limited() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 500 Oops\r\ncontent-length: 5000\r\n\r\n" + b"x" * 5000)
        await writer.drain()
        writer.close()  # keep-alive was implied, but the server closes anyway

    async def run() -> None:
        server = await serve(handler)
        url = f"http://127.0.0.1:{port_of(server)}/"
        async with HttpClient() as client:
            first = await client.post(url, b"{}", {}, head_limit=100)
            await asyncio.sleep(0.05)
            second = await client.post(url, b"{}", {}, head_limit=100)
        server.close()
        assert first.status == second.status == 500
        assert first.body_head == b"x" * 100

    asyncio.run(run())


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=True)
def test_https_verifies_the_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_request(reader)
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()

    async def run() -> None:
        server = await serve(handler, server_context)
        url = f"https://localhost:{port_of(server)}/hooks"
        trusting = ssl.create_default_context(cafile=str(cert))
        async with HttpClient(ssl_context=trusting) as client:
            response = await client.post(url, b"{}", {})
            assert response.status == 200 and response.body_head == b"ok"
        # The system trust store does not know this certificate: refused.
        async with HttpClient() as client:
            with pytest.raises(ssl.SSLCertVerificationError):
                await client.post(url, b"{}", {})
        server.close()

    asyncio.run(run())


@override_settings(KASSA_ALLOW_PRIVATE_WEBHOOK_URLS=False)
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/x", "http://localhost:9/x", "https://[::1]:9/x"]
)
def test_private_addresses_are_refused_before_connecting(url: str) -> None:
    async def run() -> None:
        async with HttpClient() as client:
            with pytest.raises(RefusedAddress):
                await client.post(url, b"{}", {})

    asyncio.run(run())
