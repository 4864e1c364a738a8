"""Configuration from environment variables.

Everything Kassa reads from the environment is parsed here, once, into a frozen `Config`.
A bad value raises `ConfigError` with one sentence that says what to fix; the CLI prints that
sentence and exits instead of showing a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class ConfigError(Exception):
    """A configuration value is missing or malformed; the message is one sentence for the user."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class DatabaseConfig:
    engine: str  # "sqlite" or "postgresql"
    name: str
    user: str = ""
    password: str = ""
    host: str = ""
    port: str = ""
    options: dict[str, str] = field(default_factory=dict)

    @property
    def is_sqlite(self) -> bool:
        return self.engine == "sqlite"


@dataclass(frozen=True)
class EmailConfig:
    backend: str  # "console", "smtp" or "locmem"
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    use_tls: bool = False
    use_ssl: bool = False
    from_address: str = "Kassa <kassa@localhost>"


@dataclass(frozen=True)
class SmsConfig:
    """The SMS provider, from KASSA_SMS_URL (eskiz://... or twilio://...)."""

    provider: str  # "eskiz" or "twilio"
    base_url: str  # e.g. https://notify.eskiz.uz, https://api.twilio.com
    username: str  # Eskiz account email; Twilio Account SID
    password: str  # Eskiz password; Twilio Auth Token
    sender: str = ""  # Eskiz "from" (nickname, e.g. 4546); Twilio From number
    messaging_service: str = ""  # Twilio MessagingServiceSid (instead of From)


SMS_DEFAULT_HOSTS = {"eskiz": "notify.eskiz.uz", "twilio": "api.twilio.com"}


def parse_sms_url(raw: str | None) -> SmsConfig | None:
    """eskiz://EMAIL:PASSWORD@notify.eskiz.uz?from=4546 or
    twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com?from=%2B15551234567; `+http` after the
    provider (eskiz+http://...@127.0.0.1:8025) talks plain HTTP, for local simulators."""
    if raw is None or not raw.strip():
        return None
    parts = urlsplit(raw.strip())
    provider, _, transport = parts.scheme.lower().partition("+")
    if provider not in SMS_DEFAULT_HOSTS or transport not in {"", "http", "https"}:
        raise ConfigError(
            "KASSA_SMS_URL must start with eskiz:// or twilio:// "
            f"(or eskiz+http:// / twilio+http:// for a local simulator), got {parts.scheme!r}."
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"KASSA_SMS_URL has an invalid port ({exc}).") from None
    username, password = unquote(parts.username or ""), unquote(parts.password or "")
    if not username or not password:
        what = "EMAIL:PASSWORD" if provider == "eskiz" else "ACCOUNT_SID:AUTH_TOKEN"
        raise ConfigError(f"KASSA_SMS_URL needs the credentials as {provider}://{what}@host.")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = parts.hostname or SMS_DEFAULT_HOSTS[provider]
    scheme = transport or "https"
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc = f"{netloc}:{port}"
    base_path = parts.path.rstrip("/")
    sender = query.get("from", "")
    messaging_service = query.get("messaging_service_sid", "")
    if provider == "twilio" and not (sender or messaging_service):
        raise ConfigError(
            "KASSA_SMS_URL for Twilio needs ?from=+15551234567 or ?messaging_service_sid=MG...."
        )
    return SmsConfig(
        provider=provider,
        base_url=f"{scheme}://{netloc}{base_path}",
        username=username,
        password=password,
        sender=sender or ("4546" if provider == "eskiz" else ""),
        messaging_service=messaging_service,
    )


@dataclass(frozen=True)
class Config:
    data_dir: Path
    database: DatabaseConfig
    secret_key: str
    base_url: str
    debug: bool
    email: EmailConfig
    allow_private_webhook_urls: bool
    allowed_hosts: tuple[str, ...]
    database_pool_size: int = 0
    # PostgreSQL's fast path (kassa.platform: pgwire, fastdb, deferred writes); off: stock Django.
    db_fastpath: bool = True
    # Seconds a database round trip of the fast path may take before it is canceled.
    database_timeout: int = 30
    web_threads: int = 4
    # Requests a web process lets wait for a thread before it answers 503 (wsgi_bridge).
    web_queue_limit: int = 64
    cache_seconds: int = 5
    checkout_ttl_minutes: int = 1440
    reconcile_after_minutes: int = 10
    # Pay pages (/pay/...): requests a minute per IP, unknown tokens per IP in ten minutes.
    pay_rate_limit: int = 60
    pay_probe_limit: int = 10
    stripe_api_base: str = "https://api.stripe.com"
    event_retention_days: int = 90
    # Live balance streams (SSE): per server process.
    sse_max_connections: int = 10000
    sse_heartbeat_seconds: int = 15
    sse_send_timeout_seconds: int = 10
    sse_poll_seconds: int = 1
    sms: SmsConfig | None = None
    vapid_subject: str = ""
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks);
    # empty: none, the connecting address is the client's.
    trusted_proxies: tuple[str, ...] = ()

    @property
    def embedded(self) -> bool:
        """True when Kassa runs on its own SQLite file (the one-machine default)."""
        return self.database.is_sqlite


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be one of 1, true, yes, on, 0, false, no, off (got {raw!r}).")


def parse_int(
    name: str, raw: str | None, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw!r}).") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum} (got {value}).")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum} (got {value}).")
    return value


def parse_database_url(raw: str, data_dir: Path) -> DatabaseConfig:
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        # sqlite:///relative/path.db or sqlite:////absolute/path.db
        path = unquote(parts.path)
        if (path.startswith("/") and not path.startswith("//")) or path.startswith("//"):
            path = path[1:]
        if not path:
            raise ConfigError(
                "KASSA_DATABASE_URL sqlite:/// needs a file path, e.g. sqlite:///kassa.db."
            )
        db_path = Path(path)
        if not db_path.is_absolute():
            db_path = Path.cwd() / db_path
        return DatabaseConfig(engine="sqlite", name=str(db_path))
    if scheme in {"postgres", "postgresql", "postgresql+psycopg"}:
        name = unquote(parts.path.lstrip("/"))
        if not name:
            raise ConfigError(
                "KASSA_DATABASE_URL must name a database, e.g. postgresql://user@host:5432/kassa."
            )
        try:
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"KASSA_DATABASE_URL has an invalid port ({exc}).") from None
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return DatabaseConfig(
            engine="postgresql",
            name=name,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            host=parts.hostname or "",
            port=str(port or ""),
            options=options,
        )
    raise ConfigError(
        "KASSA_DATABASE_URL must start with sqlite:/// or postgresql:// "
        f"(got {raw.split(':', 1)[0]!r})."
    )


def parse_email_url(raw: str | None) -> EmailConfig:
    if raw is None or raw.strip() in {"", "console", "console://"}:
        return EmailConfig(backend="console")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    sender = query.get("from", "Kassa <kassa@localhost>")
    if scheme == "locmem":
        return EmailConfig(backend="locmem", from_address=sender)
    if scheme not in {"smtp", "smtps", "smtp+tls"}:
        raise ConfigError(
            "KASSA_EMAIL_URL must be console, smtp://host:port, smtp+tls://host:port "
            f"or smtps://host:port (got scheme {scheme!r})."
        )
    if not parts.hostname:
        raise ConfigError("KASSA_EMAIL_URL needs a host, e.g. smtp://localhost:25.")
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"KASSA_EMAIL_URL has an invalid port ({exc}).") from None
    use_ssl = scheme == "smtps"
    use_tls = scheme == "smtp+tls" or query.get("tls", "").lower() in _TRUE
    return EmailConfig(
        backend="smtp",
        host=parts.hostname,
        port=port or (465 if use_ssl else 587 if use_tls else 25),
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        use_tls=use_tls,
        use_ssl=use_ssl,
        from_address=sender,
    )


def parse_base_url(raw: str | None) -> str:
    value = (raw or "http://127.0.0.1:8000").strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(
            "KASSA_BASE_URL must be an http:// or https:// address such as "
            f"https://pay.example.com (got {raw!r})."
        )
    if parts.query or parts.fragment:
        raise ConfigError("KASSA_BASE_URL must not contain a query string or fragment.")
    return value


def load_secret_key(raw: str | None, data_dir: Path) -> str:
    if raw:
        if len(raw) < 32:
            raise ConfigError("KASSA_SECRET_KEY must be at least 32 characters long.")
        return raw
    key_file = data_dir / "secret_key"
    try:
        if key_file.exists():
            value = key_file.read_text().strip()
            if len(value) >= 32:
                return value
        data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        # Written once and kept: sessions, signed links and encrypted credentials depend on it.
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        return value
    except OSError as exc:
        raise ConfigError(
            f"Cannot create the secret key in {data_dir} ({exc.strerror}); "
            "set KASSA_SECRET_KEY or make KASSA_DATA_DIR writable."
        ) from None


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    env: Mapping[str, Any] = os.environ if environ is None else environ
    data_dir = Path(env.get("KASSA_DATA_DIR") or "./.kassa")
    if not data_dir.is_absolute():
        data_dir = Path.cwd() / data_dir
    if data_dir.exists() and not data_dir.is_dir():
        raise ConfigError(f"KASSA_DATA_DIR {data_dir} exists and is not a directory.")
    database_url = env.get("KASSA_DATABASE_URL")
    database = (
        parse_database_url(database_url, data_dir)
        if database_url
        else DatabaseConfig(engine="sqlite", name=str(data_dir / "kassa.sqlite3"))
    )
    base_url = parse_base_url(env.get("KASSA_BASE_URL"))
    extra_hosts = tuple(
        h.strip() for h in (env.get("KASSA_ALLOWED_HOSTS") or "").split(",") if h.strip()
    )
    host = urlsplit(base_url).hostname or "localhost"
    return Config(
        data_dir=data_dir,
        database=database,
        secret_key=load_secret_key(env.get("KASSA_SECRET_KEY"), data_dir),
        base_url=base_url,
        debug=parse_bool("KASSA_DEBUG", env.get("KASSA_DEBUG"), False),
        email=parse_email_url(env.get("KASSA_EMAIL_URL")),
        allow_private_webhook_urls=parse_bool(
            "KASSA_ALLOW_PRIVATE_WEBHOOK_URLS", env.get("KASSA_ALLOW_PRIVATE_WEBHOOK_URLS"), False
        ),
        allowed_hosts=(host, "localhost", "127.0.0.1", "[::1]", "testserver", *extra_hosts),
        database_pool_size=parse_int(
            "KASSA_DATABASE_POOL_SIZE", env.get("KASSA_DATABASE_POOL_SIZE"), 0, minimum=0
        ),
        db_fastpath=parse_bool("KASSA_DB_FASTPATH", env.get("KASSA_DB_FASTPATH"), True),
        database_timeout=parse_int(
            "KASSA_DATABASE_TIMEOUT", env.get("KASSA_DATABASE_TIMEOUT"), 30, minimum=1, maximum=3600
        ),
        web_threads=parse_int(
            "KASSA_WEB_THREADS", env.get("KASSA_WEB_THREADS"), 4, minimum=1, maximum=256
        ),
        web_queue_limit=parse_int(
            "KASSA_WEB_QUEUE_LIMIT", env.get("KASSA_WEB_QUEUE_LIMIT"), 64, minimum=1, maximum=100000
        ),
        cache_seconds=parse_int(
            "KASSA_CACHE_SECONDS", env.get("KASSA_CACHE_SECONDS"), 5, minimum=0, maximum=300
        ),
        checkout_ttl_minutes=parse_int(
            "KASSA_CHECKOUT_TTL_MINUTES", env.get("KASSA_CHECKOUT_TTL_MINUTES"), 1440, minimum=5
        ),
        reconcile_after_minutes=parse_int(
            "KASSA_RECONCILE_AFTER_MINUTES", env.get("KASSA_RECONCILE_AFTER_MINUTES"), 10, minimum=1
        ),
        pay_rate_limit=parse_int(
            "KASSA_PAY_RATE_LIMIT", env.get("KASSA_PAY_RATE_LIMIT"), 60, minimum=1
        ),
        pay_probe_limit=parse_int(
            "KASSA_PAY_PROBE_LIMIT", env.get("KASSA_PAY_PROBE_LIMIT"), 10, minimum=1
        ),
        stripe_api_base=(env.get("KASSA_STRIPE_API_BASE") or "https://api.stripe.com").rstrip("/"),
        event_retention_days=parse_int(
            "KASSA_EVENT_RETENTION_DAYS", env.get("KASSA_EVENT_RETENTION_DAYS"), 90, minimum=1
        ),
        sse_max_connections=parse_int(
            "KASSA_SSE_MAX_CONNECTIONS", env.get("KASSA_SSE_MAX_CONNECTIONS"), 10000, minimum=1
        ),
        sse_heartbeat_seconds=parse_int(
            "KASSA_SSE_HEARTBEAT_SECONDS", env.get("KASSA_SSE_HEARTBEAT_SECONDS"), 15, minimum=1
        ),
        sse_send_timeout_seconds=parse_int(
            "KASSA_SSE_SEND_TIMEOUT", env.get("KASSA_SSE_SEND_TIMEOUT"), 10, minimum=1
        ),
        sse_poll_seconds=parse_int(
            "KASSA_SSE_POLL_SECONDS", env.get("KASSA_SSE_POLL_SECONDS"), 1, minimum=1
        ),
        sms=parse_sms_url(env.get("KASSA_SMS_URL")),
        vapid_subject=parse_vapid_subject(env.get("KASSA_VAPID_SUBJECT")),
        trusted_proxies=parse_trusted_proxies(
            "KASSA_TRUSTED_PROXIES", env.get("KASSA_TRUSTED_PROXIES")
        ),
    )


def parse_vapid_subject(raw: str | None) -> str:
    value = (raw or "").strip()
    if value and not value.startswith(("mailto:", "https://")):
        raise ConfigError(
            "KASSA_VAPID_SUBJECT must be a mailto: or https:// URL, "
            f"e.g. mailto:ops@example.com (got {raw!r})."
        )
    return value


def parse_trusted_proxies(name: str, raw: str | None) -> tuple[str, ...]:
    """Comma-separated IP addresses and networks (10.0.0.5, 10.0.0.0/8, fd00::/8), each in
    its normal form; empty means no proxy is trusted. A name or `*` is refused: trusting a
    forwarding header from everyone lets any client choose the address it is counted under."""
    entries: list[str] = []
    for item in (raw or "").split(","):
        value = item.strip()
        if not value:
            continue
        try:
            if "/" in value:
                entries.append(str(ipaddress.ip_network(value, strict=False)))
            else:
                entries.append(str(ipaddress.ip_address(value)))
        except ValueError:
            raise ConfigError(
                f"{name} must be comma-separated IP addresses or networks such as "
                f"10.0.0.5 or 10.0.0.0/8 (got {value!r})."
            ) from None
    return tuple(dict.fromkeys(entries))
