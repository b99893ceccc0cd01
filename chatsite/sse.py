"""Server-Sent Events: the framing of one event, and the response that streams them.

Every event is framed whole, and a chunk of the stream holds whole events only, so naive line-splitting
readers work.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from django.http import StreamingHttpResponse

PING = b": ping\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_event(name: str, data: Any, *, event_id: int | None = None, retry_ms: int | None = None) -> bytes:
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if retry_ms is not None:
        lines.append(f"retry: {retry_ms}")
    # json.dumps escapes newlines, so the data always fits on one `data:` line.
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return ("\n".join(lines) + "\n\n").encode()


class EventStreamResponse(StreamingHttpResponse):
    """A ``text/event-stream`` response whose body is ``chunks``: bytes already framed as whole events. The API
    handler (chatsite/handlers.py) writes them straight to the server; any other handler (the test client)
    streams them through Django's own machinery."""

    def __init__(self, chunks: AsyncIterator[bytes], status: int = 200) -> None:
        super().__init__(chunks, status=status, content_type="text/event-stream")
        self.chunks = chunks
        for name, value in SSE_HEADERS.items():
            self[name] = value
