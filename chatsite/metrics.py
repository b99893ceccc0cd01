"""The metrics endpoint. Each app defines its own metrics with ``prometheus_client`` in this process's default
registry, and ``/metrics`` renders whatever was registered: every worker process counts its own (see
docs/operations.md, "Metrics").

A metric the database knows (not this process) is read once per scrape by a function an app registers with
``metrics_read_before_scrape``; those run on a worker thread, so a slow query never holds the event loop.

With ``METRICS_TOKEN`` set, a scrape must carry ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from chatsite.db import db
from chatsite.errors import ApiError, AuthRequired, TokenInvalid
from chatsite.identity import bearer_token

_readers: list[Callable[[], None]] = []


def metrics_read_before_scrape(read: Callable[[], None]) -> Callable[[], None]:
    """Register ``read`` (synchronous; sets its gauges from the database) to run before every scrape."""
    _readers.append(read)
    return read


def _read_all() -> None:
    for read in _readers:
        read()


def _scrape_refusal(request: HttpRequest) -> ApiError | None:
    """Why a scrape is refused (no or another token while ``METRICS_TOKEN`` is set), or ``None``."""
    expected = settings.METRICS_TOKEN
    if not expected:
        return None
    try:
        given = bearer_token(request.headers.get("Authorization"))
    except ApiError:  # another scheme, or a header that is not text
        return TokenInvalid("The Authorization header must be 'Bearer <METRICS_TOKEN>'.")
    if given is None:
        return AuthRequired("Send Authorization: Bearer <METRICS_TOKEN>.")
    # A constant-time comparison: the time of a refusal says nothing about how much of the token was right.
    if not secrets.compare_digest(given.encode(), expected.encode()):
        return TokenInvalid("The metrics token is wrong.")
    return None


async def metrics(request: HttpRequest) -> HttpResponse:
    refusal = _scrape_refusal(request)
    if refusal is not None:
        return JsonResponse(refusal.payload(), status=refusal.status, headers={"WWW-Authenticate": "Bearer"})
    if _readers:
        await db(_read_all)()
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
