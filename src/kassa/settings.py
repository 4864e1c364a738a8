"""Django settings, derived entirely from `kassa.config` (environment variables)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.utils.csp import CSP  # type: ignore[import-untyped,unused-ignore]
from django.utils.translation import gettext_lazy as _

from kassa.config import load_config

CONFIG = load_config()
PACKAGE_DIR = Path(__file__).resolve().parent

SECRET_KEY = CONFIG.secret_key
DEBUG = CONFIG.debug
ALLOWED_HOSTS = list(CONFIG.allowed_hosts)
KASSA_BASE_URL = CONFIG.base_url
KASSA_DATA_DIR = CONFIG.data_dir
KASSA_ALLOW_PRIVATE_WEBHOOK_URLS = CONFIG.allow_private_webhook_urls
KASSA_CHECKOUT_TTL_MINUTES = CONFIG.checkout_ttl_minutes
KASSA_RECONCILE_AFTER_MINUTES = CONFIG.reconcile_after_minutes
KASSA_PAY_RATE_LIMIT = CONFIG.pay_rate_limit
KASSA_PAY_PROBE_LIMIT = CONFIG.pay_probe_limit
# Where the Stripe SDK sends its calls; tests point it at tests/simulators/stripe_sim.py.
KASSA_STRIPE_API_BASE = CONFIG.stripe_api_base
KASSA_EVENT_RETENTION_DAYS = CONFIG.event_retention_days
KASSA_SSE_MAX_CONNECTIONS = CONFIG.sse_max_connections
KASSA_WEB_THREADS = CONFIG.web_threads
KASSA_WEB_QUEUE_LIMIT = CONFIG.web_queue_limit
KASSA_DATABASE_TIMEOUT = CONFIG.database_timeout
KASSA_DB_FASTPATH = CONFIG.db_fastpath
KASSA_CACHE_SECONDS = CONFIG.cache_seconds
KASSA_SSE_HEARTBEAT_SECONDS: float = CONFIG.sse_heartbeat_seconds
KASSA_SSE_SEND_TIMEOUT: float = CONFIG.sse_send_timeout_seconds
KASSA_SSE_POLL_SECONDS: float = CONFIG.sse_poll_seconds
KASSA_SMS = CONFIG.sms
KASSA_VAPID_SUBJECT = CONFIG.vapid_subject
CSRF_TRUSTED_ORIGINS = [CONFIG.base_url]

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",
    "django_tasks_db",
    "kassa.platform",
    "kassa.core",
    "kassa.customers",
    "kassa.ledger",
    "kassa.events",
    "kassa.notifications",
    "kassa.payments",
    "kassa.bookings",
    "kassa.wallets",
    "kassa.portal",
]

MIDDLEWARE = [
    "kassa.core.middleware.RequestSizeLimitMiddleware",
    "kassa.core.api_input.InputMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "kassa.core.middleware.AdminContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "kassa.core.idempotency.IdempotencyMiddleware",
]

# The REST API, the gateways' hooks and the health probes run through this shorter chain
# (kassa.platform.wsgi_bridge): the same guards and security headers, none of the page machinery.
KASSA_API_MIDDLEWARE = [
    "kassa.core.middleware.RequestSizeLimitMiddleware",
    "kassa.core.api_input.InputMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "kassa.core.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "kassa.urls"
ASGI_APPLICATION = "kassa.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database_settings() -> dict[str, Any]:
    db = CONFIG.database
    if db.is_sqlite:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": db.name,
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so two writers never deadlock on
                # a lock upgrade; WAL lets readers run beside the single writer.
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": (
                    "PRAGMA journal_mode=WAL;PRAGMA synchronous=NORMAL;"
                    "PRAGMA busy_timeout=30000;PRAGMA foreign_keys=ON;"
                ),
            },
            "TEST": {"NAME": str(Path(db.name).with_name("test_" + Path(db.name).name))},
        }
    options: dict[str, Any] = {
        "connect_timeout": 5,
        # psycopg prepares nothing: the hot paths' statements (kassa.platform.fastdb, the ledger)
        # are prepared by kassa.platform.pgwire once per connection, and psycopg would deallocate
        # them all on any ROLLBACK. (Behind PgBouncer in transaction mode prepared statements
        # need PgBouncer 1.21 or newer, with max_prepared_statements.)
        "prepare_threshold": None,
    }
    if CONFIG.database_pool_size:
        # Processes whose threads come and go: a pool bounds their connections.
        options["pool"] = {"min_size": 1, "max_size": CONFIG.database_pool_size, "timeout": 30}
    options.update(db.options)
    return {
        # Django's backend without the "_like" indexes (kassa.platform.db.postgresql).
        "ENGINE": "kassa.platform.db.postgresql",
        "NAME": db.name,
        "USER": db.user,
        "PASSWORD": db.password,
        "HOST": db.host,
        "PORT": db.port,
        # Without a pool each thread keeps its connection: the web server's request threads
        # and the worker's are a fixed set (kassa.platform.wsgi_bridge), and handing a connection
        # back to a pool and taking it again cost every request about 8 % of its CPU.
        "CONN_MAX_AGE": 0 if CONFIG.database_pool_size else None,
        "OPTIONS": options,
    }


DATABASES = {"default": _database_settings()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": "kassa.platform.task_backend.DatabaseBackend",
        "QUEUES": ["default", "webhooks", "notifications", "gateways"],
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German")), ("ru", _("Russian")), ("uz", _("Uzbek"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = CONFIG.data_dir / "static" if (CONFIG.data_dir / "static").is_dir() else None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# API bodies are small JSON documents; anything bigger is refused before it is read.
KASSA_MAX_REQUEST_BYTES = 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = KASSA_MAX_REQUEST_BYTES

_https = urlsplit(CONFIG.base_url).scheme == "https"
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_HSTS_SECONDS = 31536000 if _https else 0
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.UNSAFE_INLINE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF, "https:", "http:"],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.SELF],
}
KASSA_ADMIN_CSP = {
    **SECURE_CSP,
    "script-src": [CSP.SELF, CSP.UNSAFE_INLINE, CSP.UNSAFE_EVAL],
}

EMAIL_SUBJECT_PREFIX = ""
DEFAULT_FROM_EMAIL = CONFIG.email.from_address
SERVER_EMAIL = CONFIG.email.from_address
_MAIL_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
}
MAILERS: dict[str, Any] = {"default": {"BACKEND": _MAIL_BACKENDS[CONFIG.email.backend]}}
if CONFIG.email.backend == "smtp":
    MAILERS["default"]["OPTIONS"] = {
        "host": CONFIG.email.host,
        "port": CONFIG.email.port,
        "username": CONFIG.email.user,
        "password": CONFIG.email.password,
        "use_tls": CONFIG.email.use_tls,
        "use_ssl": CONFIG.email.use_ssl,
        "timeout": 15,
    }

LOGIN_URL = "/admin/login/"

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "kassa.core.logging.json_formatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django_tasks_db": {"level": "WARNING"},
        "django.tasks": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        # The Stripe SDK logs every request at INFO.
        "stripe": {"level": "WARNING"},
        "psycopg.pool": {"level": "ERROR"},
    },
}

UNFOLD = {
    "SITE_TITLE": "Kassa",
    "SITE_HEADER": "Kassa",
    "SITE_SYMBOL": "payments",
    "SHOW_HISTORY": False,
    "DASHBOARD_CALLBACK": "kassa.core.admin_dashboard.dashboard_callback",
}
