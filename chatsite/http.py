"""HTTP plumbing shared by the views: refusing other methods and rendering errors (the DRF views' too)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from rest_framework.response import Response

from chatsite.errors import ApiError, MethodNotAllowed, drf_error_response
from chatsite.outages import DATABASE_OUTAGE_ERRORS, database_unavailable

View = Callable[..., Awaitable[HttpResponseBase]]
ErrorRenderer = Callable[[HttpRequest, ApiError], HttpResponseBase]


def rendering_errors(render: ErrorRenderer) -> Callable[[View], View]:
    """An ``ApiError`` raised by an async view becomes the response ``render`` makes of it, and so does an
    unreachable database (``SERVICE_UNAVAILABLE``, a fast coded answer rather than a 500)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                return await view(request, *args, **kwargs)
            except ApiError as error:
                return render(request, error)
            except DATABASE_OUTAGE_ERRORS as error:
                return render(request, database_unavailable(error, "answering a request"))

        return wrapper

    return decorator


def allow(*methods: str) -> Callable[[View], View]:
    """Refuse other HTTP methods with METHOD_NOT_ALLOWED (rendered like any other error of the view)."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in methods:
                raise MethodNotAllowed(f"Use {' or '.join(methods)}.")
            return await view(request, *args, **kwargs)

        return wrapper

    return decorator


def error_json(request: HttpRequest, error: ApiError) -> JsonResponse:
    return JsonResponse(error.payload(), status=error.status, headers=error.headers())


json_errors = rendering_errors(error_json)


def drf_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: its errors in the one ``{code, error}`` shape, and an unreachable database as
    ``SERVICE_UNAVAILABLE``, as every other view answers it (not a 500)."""
    if isinstance(exc, DATABASE_OUTAGE_ERRORS):
        exc = database_unavailable(exc, "answering a request")
    return drf_error_response(exc)
