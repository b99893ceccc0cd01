"""Typed readers for configuration from the environment.

Every reader raises ``ImproperlyConfigured`` naming the variable, so a bad value stops the server at start-up
with a clear message instead of failing later on the first request that touches it. ``settings_load_or_exit``
prints that message (or one of the settings module's own checks) as one line for ``manage.py`` and the ASGI
application.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no), got {value!r}")


def env_int(
    name: str,
    default: int,
    environ: Mapping[str, str] | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")
    return number


def env_float(name: str, default: float, environ: Mapping[str, str] | None = None, *, minimum: float = 0.0) -> float:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from None
    if number != number or number < minimum:  # NaN or below the floor
        raise ImproperlyConfigured(f"{name} must be a number of at least {minimum}, got {value!r}")
    return number


def env_decimal(name: str, default: Decimal, environ: Mapping[str, str] | None = None) -> Decimal:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ImproperlyConfigured(f"{name} must be a decimal number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ImproperlyConfigured(f"{name} must be a non-negative decimal, got {value!r}")
    return number


def env_list(name: str, default: list[str], environ: Mapping[str, str] | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_url(name: str, default: str, schemes: tuple[str, ...], environ: Mapping[str, str] | None = None) -> str:
    value = env_str(name, default, environ)
    if value and not value.startswith(tuple(f"{scheme}://" for scheme in schemes)):
        raise ImproperlyConfigured(f"{name} must be a URL starting with {' or '.join(schemes)}://, got {value!r}")
    return value


_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")


def env_proxy_ssl_header(name: str, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """A header name (``X-Forwarded-Proto``) whose value ``https`` marks a request the proxy received over TLS,
    as Django's ``SECURE_PROXY_SSL_HEADER`` wants it: ``("HTTP_X_FORWARDED_PROTO", "https")``; empty: None."""
    value = env_str(name, "", environ)
    if not value:
        return None
    if not _HEADER_NAME.match(value):
        raise ImproperlyConfigured(f"{name} must be an HTTP header name such as X-Forwarded-Proto, got {value!r}")
    return ("HTTP_" + value.upper().replace("-", "_"), "https")


def settings_load_or_exit() -> None:
    """Read the settings now. A bad value ends the process with one line naming the variable (exit status 1)
    instead of the 50-line traceback of an import error that buries it."""
    try:
        settings.INSTALLED_APPS  # noqa: B018  (the first access imports the settings module)
    except ImproperlyConfigured as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message holds
        sys.stderr.write(f"Configuration error: {message}\n")
        raise SystemExit(1) from None
