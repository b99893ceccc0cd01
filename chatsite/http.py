"""HTTP plumbing shared by the views: error rendering and SSE responses."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from chatsite.errors import ApiError, MethodNotAllowed
from chatsite.sse import PING, sse_event

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def wants_json(request: HttpRequest) -> bool:
    """True when the client asked for JSON and not for an event stream."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/event-stream" not in accept


def pre_stream_error(request: HttpRequest, error: ApiError) -> HttpResponse:
    """An error before a stream starts: its status, and a one-event SSE body (or JSON when asked for)."""
    if wants_json(request):
        return JsonResponse(error.payload(), status=error.status)
    body = sse_event("assistant_error", error.payload(), event_id=1)
    response = HttpResponse(body, status=error.status, content_type="text/event-stream")
    for name, value in SSE_HEADERS.items():
        response[name] = value
    return response


View = Callable[..., Awaitable[HttpResponseBase]]


def _rendering_errors(render: Callable[[HttpRequest, ApiError], HttpResponseBase]) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            try:
                return await view(request, *args, **kwargs)
            except ApiError as error:
                return render(request, error)

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


# An ``ApiError`` raised by an async view becomes its response: ``{code, error}`` JSON for the JSON endpoints,
# the pre-stream error for the streaming ones.
json_errors = _rendering_errors(lambda request, error: JsonResponse(error.payload(), status=error.status))
sse_errors = _rendering_errors(pre_stream_error)


async def _encode(source: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    """One chunk per batch of whole events: a reader that keeps up gets one event a chunk, and one that fell
    behind catches up in fewer, larger writes. No event is ever split across chunks."""
    retry = settings.SSE_RETRY_MS
    async for batch in source:
        if batch is None:
            yield PING
        else:
            yield b"".join(sse_event(e.name, e.data, event_id=e.id, retry_ms=retry) for e in batch)


def sse_response(source: AsyncIterator[Any], status: int = 200) -> StreamingHttpResponse:
    """Stream batches of events (``None`` items become ``: ping`` comments)."""
    response = StreamingHttpResponse(_encode(source), status=status, content_type="text/event-stream")
    for name, value in SSE_HEADERS.items():
        response[name] = value
    return response
