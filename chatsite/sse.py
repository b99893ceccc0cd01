"""Server-Sent Events encoding: every event is one bytes chunk, so naive line-splitting readers work."""

from __future__ import annotations

import json
from typing import Any

PING = b": ping\n\n"


def sse_event(name: str, data: Any, *, event_id: int | None = None, retry_ms: int | None = None) -> bytes:
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    if retry_ms is not None:
        lines.append(f"retry: {retry_ms}")
    # json.dumps escapes newlines, so the data always fits on one `data:` line.
    lines.append("data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False))
    return ("\n".join(lines) + "\n\n").encode()
