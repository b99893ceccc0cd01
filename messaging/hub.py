"""The generations running in this process, each with its events, and a way for readers to follow them.

A generation appends its events to a ``LocalStream`` in the process that runs it. Readers in that process follow
it and get every event the moment it exists; with Redis the events also go to the shared log (log_writer) so
that a reader in any other process can follow them there.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from django.conf import settings

from chatsite.redis import redis_enabled
from messaging import events
from messaging.events import Batch, StreamEvent, log_key
from messaging.log_writer import redis_log
from messaging.metrics import GENERATIONS_RUNNING, STREAM_EVENTS


class LocalStream:
    """The events of one running generation in this process, and a way to wait for the next one."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.events: list[StreamEvent] = []
        self.finished = False
        self.stop_requested = asyncio.Event()
        self._changed = asyncio.Event()
        self._log_key = log_key(message_id) if redis_enabled() else None

    @property
    def last_id(self) -> int:
        return len(self.events)

    def emit(self, name: str, data: dict[str, Any], *, final: bool = False) -> StreamEvent:
        event = StreamEvent(events.next_id(self.last_id), name, data, final)
        self.events.append(event)
        self.finished = self.finished or final
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        STREAM_EVENTS.inc()
        if self._log_key is not None:
            redis_log().push(self._log_key, event)
        return event

    async def flushed(self) -> None:
        if self._log_key is not None:
            await redis_log().written(self._log_key)

    async def follow(self, after: int, idle: float) -> AsyncIterator[Batch | None]:
        """Events with an id above ``after`` as they come, in batches of whatever is there when the reader
        asks (one event when it keeps up, more when it fell behind); ``None`` after ``idle`` s of silence."""
        index = max(after, 0)  # ids are 1, 2, 3…: the event after id N is at index N
        while True:
            if index < len(self.events):
                batch = self.events[index:]
                index += len(batch)
                yield batch
                if batch[-1].final:
                    return
                continue
            if self.finished:
                return
            changed = self._changed
            try:
                async with asyncio.timeout(idle):
                    await changed.wait()
            except TimeoutError:
                yield None


class StreamHub:
    """The generations running in this process, by message id."""

    def __init__(self) -> None:
        self.local: dict[str, LocalStream] = {}

    def open(self, message_id: str) -> LocalStream:
        stream = LocalStream(message_id)
        self.local[message_id] = stream
        return stream

    def close(self, stream: LocalStream) -> None:
        """Forget a finished stream: at once with Redis (it holds the log), after the TTL in memory."""
        if redis_enabled():
            self.local.pop(stream.message_id, None)
        else:
            asyncio.get_running_loop().call_later(
                settings.STREAM_LOG_TTL_SECONDS, self._forget(stream.message_id, stream)
            )

    def _forget(self, message_id: str, stream: LocalStream) -> Callable[[], None]:
        def forget() -> None:
            if self.local.get(message_id) is stream:
                del self.local[message_id]

        return forget

    def running(self) -> list[LocalStream]:
        return [stream for stream in self.local.values() if not stream.finished]

    def stop(self, message_id: str) -> bool:
        """Ask a generation running here to stop; whether it runs here."""
        stream = self.local.get(message_id)
        if stream is not None:
            stream.stop_requested.set()
        return stream is not None


hub = StreamHub()
GENERATIONS_RUNNING.set_function(lambda: len(hub.running()))
