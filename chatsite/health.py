"""The health endpoints and the JSON error pages.

``/health/live`` says the process answers (no dependency is checked). ``/health`` and ``/health/ready`` check
the database and Redis at the same time, each within ``CHECK_SECONDS``, so they answer within a second even
when a dependency hangs; ``/health/ready`` is also 503 from the moment a SIGTERM starts the drain, so a load
balancer stops sending new work to a worker that is finishing its answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from chatsite.errors import ApiError, NotFound
from chatsite.lifecycle import is_draining
from chatsite.openapi import NOBODY, Schema, described, json_response
from chatsite.outages import (
    DATABASE_OUTAGE_ERRORS,
    database_health,
    database_ping,
    database_unavailable,
    redis_ping,
)
from chatsite.redis import redis_enabled

CHECK_SECONDS = 0.8


async def _database_check() -> None:
    try:
        await database_ping()
    except DATABASE_OUTAGE_ERRORS as error:
        database_unavailable(error, "checking health")
        raise
    database_health.answered()


async def _outcome(check: Callable[[], Awaitable[None]]) -> str:
    """``ok``, or ``error: <the exception's name>`` (``TimeoutError`` for a check that outlasts ``CHECK_SECONDS``:
    reported, but not taken for an outage by the sends, which only real failures of real calls stop)."""
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            await check()
    except TimeoutError:
        return "error: TimeoutError"
    except Exception as exc:
        return f"error: {type(exc.__cause__ or exc).__name__}"
    return "ok"


async def _checks() -> dict[str, str]:
    checks = {"database": _outcome(_database_check)}
    if redis_enabled():
        checks["redis"] = _outcome(redis_ping)
    outcomes = await asyncio.gather(*checks.values())
    return dict(zip(checks, outcomes, strict=True))


def _report(status: str, checks: dict[str, str], healthy: bool) -> JsonResponse:
    return JsonResponse({"status": status, "checks": checks}, status=200 if healthy else 503)


_CHECKS: Schema = {
    "type": "object",
    "description": "Each dependency checked (`redis` only when REDIS_URL is set): `ok`, or `error: <ExceptionName>` "
    "(`error: TimeoutError` for a check that took longer than 0.8 s).",
    "properties": {"database": {"type": "string"}, "redis": {"type": "string"}},
    "required": ["database"],
    "additionalProperties": False,
}


def _report_schema(*statuses: str, checks: Schema = _CHECKS) -> Schema:
    return {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": list(statuses)}, "checks": checks},
        "required": ["status", "checks"],
    }


_HEALTHY = json_response("The database and Redis answer.", _report_schema("ok"))
_UNHEALTHY = json_response("A dependency failed or did not answer in time.", _report_schema("error"))
_DRAINING = _report_schema("draining", checks={"type": "object", "additionalProperties": False})


def _probe(operation_id: str, summary: str, description: str, responses: Schema) -> Schema:
    return {
        "get": {
            "tags": ["health"],
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "security": NOBODY,
            "responses": responses,
        }
    }


@described(
    _probe(
        "health",
        "Health",
        "The database and Redis both answer (200), or not (503).",
        {"200": _HEALTHY, "503": _UNHEALTHY},
    )
)
async def health(request: HttpRequest) -> HttpResponse:
    """The database and Redis both answer (200), or not (503)."""
    checks = await _checks()
    healthy = all(value == "ok" for value in checks.values())
    return _report("ok" if healthy else "error", checks, healthy)


@described(
    _probe(
        "health_ready",
        "Readiness",
        "Whether this worker should get new requests: healthy and not draining. 503 `draining` from the moment a "
        "SIGTERM starts the drain.",
        {
            "200": _HEALTHY,
            "503": json_response(
                "A dependency failed, or the worker is draining for a shutdown.",
                {"oneOf": [_report_schema("error"), _DRAINING]},
            ),
        },
    )
)
async def ready(request: HttpRequest) -> HttpResponse:
    """Whether this worker should get new requests: healthy, and not draining for a shutdown."""
    if is_draining():
        return _report("draining", {}, healthy=False)
    return await health(request)


@described(
    _probe(
        "health_live",
        "Liveness",
        "The process runs and answers; nothing else is checked (a draining worker is still live).",
        {
            "200": json_response(
                "The process answers.",
                {
                    "type": "object",
                    "properties": {"status": {"type": "string", "enum": ["ok"]}},
                    "required": ["status"],
                },
            )
        },
    )
)
async def live(request: HttpRequest) -> HttpResponse:
    """The process runs and answers (a worker that is draining is still live: let it finish)."""
    return JsonResponse({"status": "ok"})


def not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return JsonResponse(NotFound().payload(), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return JsonResponse(ApiError().payload(), status=500)
