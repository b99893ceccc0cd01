"""Settings, read from the environment once at start-up.

With no variables set the project runs on SQLite and the in-memory channel layer. ``DATABASE_URL`` moves it to
PostgreSQL and ``REDIS_URL`` moves everything that several processes must share (channel layer, Socket.IO
fan-out, stream logs, stop signals) to Redis. Every variable is listed in the README.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from chatsite.env import (
    env_bool,
    env_decimal,
    env_float,
    env_int,
    env_list,
    env_proxy_ssl_header,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
_DEV_SECRET = "dev-only-insecure-secret-key-change-me-0123456789abcdef"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", _DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 32 characters long")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
PORT = env_int("PORT", 3000, minimum=1, maximum=65535)
ALLOWED_ORIGINS = env_list("ALLOWED_ORIGINS", ["http://localhost:3000", "http://127.0.0.1:3000"])
if "*" in ALLOWED_ORIGINS:
    raise ImproperlyConfigured("ALLOWED_ORIGINS must list origins; '*' is refused because sockets carry credentials")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by this application (no CDN)
    "rest_framework_simplejwt.token_blacklist",
    "channels",
    "corsheaders",
    "usage",
    "chats",
    "messaging",
    "accounts",
    "web",
]

# The admin's stack (and the test client's). The API is served by chatsite.handlers.ApiHandler with
# API_MIDDLEWARE below: the same security headers, CORS and quota, without the admin's synchronous middleware.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "chatsite.input.body_limit",  # after CORS, so that a browser can read the 413
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "usage.middleware.QuotaMiddleware",
]
API_MIDDLEWARE = [
    "chatsite.middleware.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "chatsite.input.body_limit",
    "usage.middleware.QuotaMiddleware",
]

ROOT_URLCONF = "chatsite.urls"
ASGI_APPLICATION = "chatsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database(url: str) -> dict[str, Any]:
    if not url:
        # The embedded default. IMMEDIATE transactions take the write lock up front and the busy timeout makes
        # a second writer wait for it instead of failing with "database is locked" under concurrent sends.
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    try:
        config = dj_database_url.parse(url, conn_max_age=0)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a usable database URL: {exc}") from None
    if config.get("ENGINE") not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// (or sqlite://) URL")
    if config["ENGINE"] == "django.db.backends.postgresql":
        config["OPTIONS"] = _postgres_timeouts(dict(config.get("OPTIONS") or {}))
        if DATABASE_POOL_SIZE:
            # Open connections kept by this process and lent to each database call, instead of a new connection
            # (a new server process) for every request (docs/performance.md).
            pool = {"min_size": min(2, DATABASE_POOL_SIZE), "max_size": DATABASE_POOL_SIZE, "timeout": 10}
            config["OPTIONS"]["pool"] = pool
    return dict(config)


def _postgres_timeouts(options: dict[str, Any]) -> dict[str, Any]:
    """No database call waits for ever: connecting is bounded (a host that is down or hung), and so is every
    statement (a lock that is never released). Options given in DATABASE_URL's query win."""
    options.setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT_SECONDS)
    statement_ms = round(DATABASE_STATEMENT_TIMEOUT_SECONDS * 1000)
    if statement_ms and "statement_timeout" not in options.get("options", ""):
        options["options"] = f"{options.get('options', '')} -c statement_timeout={statement_ms}".strip()
    return options


DATABASE_POOL_SIZE = env_int("DATABASE_POOL_SIZE", 10, minimum=0, maximum=100)
# (libpq counts whole seconds, and at least 2.)
DATABASE_CONNECT_TIMEOUT_SECONDS = env_int("DATABASE_CONNECT_TIMEOUT_SECONDS", 5, minimum=2)
DATABASE_STATEMENT_TIMEOUT_SECONDS = env_float("DATABASE_STATEMENT_TIMEOUT_SECONDS", 30.0)
# A request's database call running longer than this has its connection cut (chatsite/db.py).
DATABASE_CALL_TIMEOUT_SECONDS = env_float("DATABASE_CALL_TIMEOUT_SECONDS", 5.0, minimum=0.5)
DATABASES = {"default": _database(env_url("DATABASE_URL", "", ("postgres", "postgresql", "sqlite")))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_url("REDIS_URL", "", ("redis", "rediss", "unix"))
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("REDIS_PREFIX", "chatsite")},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
REDIS_PREFIX = env_str("REDIS_PREFIX", "chatsite")
# No Redis command or connection waits longer than this (chatsite/redis.py).
REDIS_TIMEOUT_SECONDS = env_float("REDIS_TIMEOUT_SECONDS", 2.0, minimum=0.1)
# How often each process probes Redis (and a database it found down) for an outage and its end (chatsite/outages.py).
HEALTH_PROBE_SECONDS = env_float("HEALTH_PROBE_SECONDS", 1.0, minimum=0.05)
# When set, /metrics answers only a scrape with "Authorization: Bearer <this>" (chatsite/metrics.py).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
# How long a management socket counts as open for pushes after its process last said so (chatsite/presence.py):
# each process renews its sockets every third of it, so one that dies is forgotten within it.
PRESENCE_TTL_SECONDS = env_float("PRESENCE_TTL_SECONDS", 30.0, minimum=0.3)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# The admin's files are served by the ASGI application straight from the installed apps (chatsite/asgi.py), so
# no collectstatic step is needed; STATIC_ROOT is only for an operator who wants to collect them for a CDN.
STATIC_ROOT = env_str("STATIC_ROOT", "") or None

# A front end served from another origin (a dev server, a CDN) may call the API from the same allow-list as
# the sockets. Credentials travel in headers, never cookies, so no CORS credentials are needed.
CORS_ALLOWED_ORIGINS = ALLOWED_ORIGINS
CORS_ALLOW_HEADERS = ["authorization", "content-type", "x-anon-id", "idempotency-key", "last-event-id", "accept"]
CORS_EXPOSE_HEADERS = ["content-type", "retry-after"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["chatsite.input.JsonParser"],
    "EXCEPTION_HANDLER": "chatsite.http.drf_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI schema at /api/schema/ and its Swagger UI at /api/docs/. drf-spectacular reads the DRF views; the
# plain async views declare their own description, merged in by the hook (chatsite/openapi.py).
SPECTACULAR_SETTINGS = {
    "TITLE": "chatsite API",
    "DESCRIPTION": "The HTTP API of chatsite: auth, the model catalog, usage, and the answers streamed as "
    "server-sent events. docs/protocol.md is the full contract, the sockets included.",
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",  # JSON Schema's contentSchema describes each server-sent event's data
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["chatsite.openapi.openapi_postprocess"],
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "SIGNING_KEY": SECRET_KEY,
}

# The model provider.
OPENAI_API_KEY = env_str("OPENAI_API_KEY", "")
OPENAI_BASE_URL = env_url("OPENAI_BASE_URL", "https://api.openai.com/v1", ("http", "https"))
SYSTEM_PROMPT = env_str("SYSTEM_PROMPT", "")
HISTORY_TOKEN_BUDGET = env_int("HISTORY_TOKEN_BUDGET", 8000, minimum=100)
MAX_MESSAGE_CHARS = env_int("MAX_MESSAGE_CHARS", 32000, minimum=1)
# Input bounds. A body over the limit is 413 PAYLOAD_TOO_LARGE on every endpoint (chatsite/input.py); the limit
# must leave room for the longest message with every character escaped as \uXXXX.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
if DATA_UPLOAD_MAX_MEMORY_SIZE < 6 * MAX_MESSAGE_CHARS + 1024:
    raise ImproperlyConfigured(f"MAX_BODY_BYTES must be at least {6 * MAX_MESSAGE_CHARS + 1024} for MAX_MESSAGE_CHARS")
ECHO_DELAY_MS = env_int("ECHO_DELAY_MS", 30, minimum=0)
TEST_SSE_INTERVAL_MS = env_int("TEST_SSE_INTERVAL_MS", 100, minimum=0)
UPSTREAM_CONNECT_TIMEOUT = env_float("UPSTREAM_CONNECT_TIMEOUT", 10.0, minimum=0.1)
UPSTREAM_FIRST_TOKEN_TIMEOUT = env_float("UPSTREAM_FIRST_TOKEN_TIMEOUT", 60.0, minimum=0.1)
UPSTREAM_STALL_TIMEOUT = env_float("UPSTREAM_STALL_TIMEOUT", 30.0, minimum=0.1)
UPSTREAM_MAX_RETRIES = env_int("UPSTREAM_MAX_RETRIES", 2, minimum=0, maximum=10)

# Streams.
SSE_PING_SECONDS = env_float("SSE_PING_SECONDS", 15.0, minimum=0.05)
SSE_RETRY_MS = env_int("SSE_RETRY_MS", 1000, minimum=0)
STREAM_LOG_TTL_SECONDS = env_int("STREAM_LOG_TTL_SECONDS", 600, minimum=1)
STREAM_FLUSH_MS = env_int("STREAM_FLUSH_MS", 25, minimum=0)
STREAM_TOKEN_TTL_SECONDS = env_int("STREAM_TOKEN_TTL_SECONDS", 900, minimum=1)
GENERATION_ORPHAN_SECONDS = env_int("GENERATION_ORPHAN_SECONDS", 30, minimum=1)
STREAM_LOG_STALL_SECONDS = env_float("STREAM_LOG_STALL_SECONDS", 30.0, minimum=0.1)
SHUTDOWN_GRACE_SECONDS = env_float("SHUTDOWN_GRACE_SECONDS", 20.0, minimum=0)

# Management sockets (chats/sockets.py). daphne itself closes a WebSocket message over 1 MiB (close 1009).
SOCKET_MAX_FRAME_BYTES = env_int("SOCKET_MAX_FRAME_BYTES", 65536, minimum=1024, maximum=1024 * 1024)
SOCKET_RATE_PER_SECOND = env_float("SOCKET_RATE_PER_SECOND", 20.0, minimum=0.1)
SOCKET_RATE_BURST = env_int("SOCKET_RATE_BURST", 40, minimum=1)
SOCKET_RATE_DISCONNECT_AFTER = env_int("SOCKET_RATE_DISCONNECT_AFTER", 50, minimum=0)
SOCKET_WORKER_THREADS = env_int("SOCKET_WORKER_THREADS", 8, minimum=1, maximum=64)

# Quotas and billing.
ANON_MESSAGE_LIMIT = env_int("ANON_MESSAGE_LIMIT", 10, minimum=0)
ANON_IP_LIMIT = env_int("ANON_IP_LIMIT", 50, minimum=0)
ANON_WINDOW_HOURS = env_int("ANON_WINDOW_HOURS", 0, minimum=0)
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=10)
NEW_USER_CREDITS = env_decimal("NEW_USER_CREDITS", Decimal("0.5"))

# Abuse limits on the auth endpoints, counted in the database (usage/rate_limits.py); 0 turns a limit off.
SIGNUP_PER_IP = env_int("SIGNUP_PER_IP", 5, minimum=0)
SIGNUP_WINDOW_MINUTES = env_int("SIGNUP_WINDOW_MINUTES", 60, minimum=1)
LOGIN_FAILURES_PER_USERNAME = env_int("LOGIN_FAILURES_PER_USERNAME", 10, minimum=0)
LOGIN_FAILURES_PER_IP = env_int("LOGIN_FAILURES_PER_IP", 50, minimum=0)
LOGIN_WINDOW_MINUTES = env_int("LOGIN_WINDOW_MINUTES", 15, minimum=1)

# HTTPS. Off by default so that a fresh clone and a plain-HTTP local container work; docs/operations.md lists
# the production values, with which `manage.py check --deploy` is clean.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Probed over plain HTTP from inside the network (the container's health check, load balancers, Prometheus):
# a redirect to https would fail the probe, and neither endpoint carries a credential.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header("SECURE_PROXY_SSL_HEADER")
if SECURE_PROXY_SSL_HEADER and TRUSTED_PROXY_COUNT == 0:
    # With nothing in front to set (and overwrite) the header, any client could claim to have come over HTTPS.
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER needs TRUSTED_PROXY_COUNT of at least 1 (a proxy that sets it)")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in logging.getLevelNamesMapping():
    raise ImproperlyConfigured(f"LOG_LEVEL must be a logging level name, got {LOG_LEVEL!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "aiohttp.access": {"level": "WARNING"},
    },
}
