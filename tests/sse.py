"""Reading Server-Sent Events in tests, the way a client does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.http import StreamingHttpResponse


@dataclass(frozen=True)
class Event:
    name: str
    data: Any
    id: int | None


def parse_sse(raw: bytes | str) -> list[Event]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    events = []
    for block in text.split("\n\n"):
        name, data, event_id = "message", None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line.startswith("id: "):
                event_id = int(line[4:])
        if data is not None:
            events.append(Event(name, data, event_id))
    return events


async def read_events(response: Any, limit: int | None = None) -> list[Event]:
    """All events of a streamed response (or the first ``limit``), chunk by chunk: an event may span chunks (a
    long one is written in slices), so only the whole events read so far are parsed."""
    if not isinstance(response, StreamingHttpResponse):
        return parse_sse(response.content)
    events: list[Event] = []
    pending = b""
    async for chunk in response.streaming_content:
        whole, separator, pending = (pending + chunk).rpartition(b"\n\n")
        events.extend(parse_sse(whole + separator))
        if limit is not None and len(events) >= limit:
            break
    return events


def names(events: list[Event]) -> list[str]:
    return [event.name for event in events]


def joined_deltas(events: list[Event]) -> str:
    return "".join(event.data["delta"] for event in events if event.name == "assistant_delta")
