"""The health endpoint and the JSON error pages."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse

from chatsite.errors import ApiError, NotFound
from chatsite.redis import redis_client, redis_enabled


def _database_ok() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return True


async def health(request: HttpRequest) -> HttpResponse:
    checks: dict[str, str] = {}
    try:
        await sync_to_async(_database_ok)()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if redis_enabled():
        try:
            await redis_client().ping()  # type: ignore[misc]  # redis-py types it for both of its clients
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)


def not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return JsonResponse(NotFound().payload(), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    return JsonResponse(ApiError().payload(), status=500)
