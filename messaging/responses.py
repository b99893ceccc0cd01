"""Server-Sent Events responses of the streaming endpoints, and their errors before a stream starts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from django.http import HttpRequest, HttpResponse, JsonResponse

from chatsite.errors import ApiError
from chatsite.http import rendering_errors
from chatsite.sse import PING, SSE_HEADERS, EventStreamResponse, sse_event
from messaging import events
from messaging.events import Batch
from messaging.metrics import SSE_READERS


def wants_json(request: HttpRequest) -> bool:
    """True when the client asked for JSON and not for an event stream."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/event-stream" not in accept


def pre_stream_error(request: HttpRequest, error: ApiError) -> HttpResponse:
    """An error before a stream starts: its status, and a one-event SSE body (or JSON when asked for)."""
    if wants_json(request):
        return JsonResponse(error.payload(), status=error.status)
    body = sse_event(events.ASSISTANT_ERROR, events.error_data(error), event_id=events.FIRST_ID)
    response = HttpResponse(body, status=error.status, content_type="text/event-stream")
    for name, value in SSE_HEADERS.items():
        response[name] = value
    return response


# An ``ApiError`` raised by a streaming view becomes the pre-stream error.
sse_errors = rendering_errors(pre_stream_error)


# Events of a batch are joined into one chunk up to JOIN_BYTES. An event over SLICE_BYTES (only the end of a long
# answer: replayed texts come in pages of under that) is written in slices of it, so that a slow reader holds back
# the rest instead of a copy of it in the server's send buffer.
JOIN_BYTES = 64 * 1024
SLICE_BYTES = 512 * 1024


async def _encode(source: AsyncIterator[Batch | None]) -> AsyncIterator[bytes]:
    """One chunk per batch of small events: a reader that keeps up gets one event a chunk, and one that fell
    behind catches up in fewer, larger writes. Counted in ``SSE_READERS`` from its first chunk until it ends, or
    its reader leaves (the server then closes it)."""
    SSE_READERS.inc()
    try:
        async for batch in source:
            if batch is None:
                yield PING
                continue
            for chunk in _chunks(batch):
                yield chunk
    finally:
        SSE_READERS.dec()


def _chunks(batch: Batch) -> Iterator[bytes]:
    wires = [event.wire for event in batch]
    if len(wires) > 1 and sum(map(len, wires)) <= JOIN_BYTES:
        yield b"".join(wires)
        return
    for wire in wires:
        if len(wire) <= SLICE_BYTES:
            yield wire
            continue
        for start in range(0, len(wire), SLICE_BYTES):  # (a slice is a copy, but one slice at a time)
            yield wire[start : start + SLICE_BYTES]


def sse_response(source: AsyncIterator[Batch | None], status: int = 200) -> EventStreamResponse:
    """Stream batches of events (``None`` items become ``: ping`` comments)."""
    return EventStreamResponse(_encode(source), status=status)
