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
from messaging.events import Batch, Deltas, StreamEvent
from messaging.log_writer import redis_log
from messaging.metrics import GENERATIONS_RUNNING, STREAM_EVENTS

# A reader takes at most this many events at once: one that fell far behind (or joins a long answer late) is
# written in bounded pieces, not in one copy of everything.
BATCH_EVENTS = 256


class LocalStream:
    """The events of one running generation in this process, and a way to wait for the next one.

    Readers wait on one event that every emit sets; a slow pulse (a quarter of ``SSE_PING_SECONDS``) also wakes
    them, so a reader that has been quiet long enough sends a ping without a timer of its own per wait.
    """

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.events: list[StreamEvent] = []
        self.finished = False
        self.stop_requested = asyncio.Event()
        self._changed = asyncio.Event()
        self._log = redis_log() if redis_enabled() else None
        self._pulse_seconds = settings.SSE_PING_SECONDS / 4
        self._pulse = asyncio.get_running_loop().call_later(self._pulse_seconds, self._beat)

    @property
    def last_id(self) -> int:
        return len(self.events)

    def emit(self, name: str, data: dict[str, Any], *, final: bool = False) -> StreamEvent:
        return self._append(StreamEvent(events.next_id(self.last_id), name, data, final))

    def emit_delta(self, deltas: Deltas, text: str) -> StreamEvent:
        return self._append(deltas.event(events.next_id(self.last_id), text))

    def _append(self, event: StreamEvent) -> StreamEvent:
        final = event.final
        self.events.append(event)
        if final:
            self.finished = True
            self._pulse.cancel()
        self._changed.set()
        self._changed.clear()
        STREAM_EVENTS.count += 1
        if self._log is not None:
            self._log.push(self.message_id, event)
        return event

    def _beat(self) -> None:
        self._changed.set()
        self._changed.clear()
        if not self.finished:
            self._pulse = asyncio.get_running_loop().call_later(self._pulse_seconds, self._beat)

    async def flushed(self) -> None:
        if self._log is not None:
            await self._log.written(self.message_id)

    async def follow(self, after: int, idle: float) -> AsyncIterator[Batch | None]:
        """Events with an id above ``after`` as they come, in batches of whatever is there when the reader
        asks (one event when it keeps up, more when it fell behind); ``None`` after ``idle`` s of silence."""
        loop = asyncio.get_running_loop()
        index = max(after, 0)  # ids are 1, 2, 3…: the event after id N is at index N
        quiet_since = loop.time()
        while True:
            if index < len(self.events):
                batch = self.events[index : index + BATCH_EVENTS]
                index += len(batch)
                yield batch
                if batch[-1].final:
                    return
                quiet_since = loop.time()
            elif self.finished:
                return
            elif loop.time() - quiet_since >= idle:
                yield None
                quiet_since = loop.time()
            else:
                await self._changed.wait()


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
