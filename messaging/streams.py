"""The event log of each generation, and the process-local hub that runs it.

A generation appends its events (the SSE events with their ids) to a ``LocalStream`` in the process that runs
it. Readers in that process follow the local stream and get every chunk the moment it exists. When
``REDIS_URL`` is set the stream is also written to a Redis Stream, coalescing deltas (at most one write per
``STREAM_FLUSH_MS``), so a reader in any other process can replay it and follow it live. A reader that finds no
log at all (expired, or the process died before it wrote one) gets the stored message from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chatsite.redis import raise_if_cancelled, redis_client, redis_enabled, redis_key

log = logging.getLogger(__name__)

COALESCED = "assistant_delta"
FLUSH_EVENTS = 64


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: int
    name: str
    data: dict[str, Any]
    final: bool = False

    def to_wire(self) -> list[Any]:
        return [self.id, self.name, self.data, self.final]

    @classmethod
    def from_wire(cls, item: list[Any]) -> StreamEvent:
        return cls(int(item[0]), str(item[1]), item[2], bool(item[3]))


Batch = list[StreamEvent]


class Counters:
    """Per-process counts an operator or a benchmark reads (``/metrics``)."""

    redis_stream_writes = 0
    stream_events = 0


class RedisLogWriter:
    """Writes one stream's events to Redis, batching deltas; other events are written at once."""

    def __init__(self, message_id: str) -> None:
        self.key = redis_key("stream", message_id)
        self.pending: list[StreamEvent] = []
        self.urgent = False
        self.written = False
        self.wake = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    def push(self, event: StreamEvent) -> None:
        self.pending.append(event)
        if event.name != COALESCED or len(self.pending) >= FLUSH_EVENTS:
            self.urgent = True
            self.wake.set()
        elif len(self.pending) == 1:
            self.wake.set()  # a batch's first delta starts its flush timer; the others wake nobody

    async def _run(self) -> None:
        flush_s = settings.STREAM_FLUSH_MS / 1000
        while True:
            await self.wake.wait()
            self.wake.clear()
            if not self.urgent and flush_s:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(flush_s):
                        await self.wake.wait()  # only an urgent event cuts the wait short
            batch, self.pending, self.urgent = self.pending, [], False
            self.wake.clear()
            if await self._write(batch):
                return

    async def _write(self, batch: list[StreamEvent]) -> bool:
        final = bool(batch) and batch[-1].final
        payload = json.dumps([event.to_wire() for event in batch], separators=(",", ":"))
        try:
            if self.written and not final:
                await redis_client().xadd(self.key, {"e": payload})
            else:  # the expiry is set with the first write (a long one, in case this process dies) and the last
                ttl = settings.STREAM_LOG_TTL_SECONDS if final else max(settings.STREAM_LOG_TTL_SECONDS, 3600)
                async with redis_client().pipeline(transaction=False) as pipe:
                    pipe.xadd(self.key, {"e": payload})
                    pipe.expire(self.key, ttl)
                    await pipe.execute()
            self.written = True
            Counters.redis_stream_writes += 1
        except Exception:  # the live local readers still have every event; only remote replay suffers
            log.exception("writing stream %s to Redis failed", self.key)
        return final


class LocalStream:
    """The events of one running generation in this process, and a way to wait for the next one."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.events: list[StreamEvent] = []
        self.finished = False
        self.stop_requested = asyncio.Event()
        self._changed = asyncio.Event()
        self._writer = RedisLogWriter(message_id) if redis_enabled() else None

    def emit(self, name: str, data: dict[str, Any], *, final: bool = False) -> StreamEvent:
        event = StreamEvent(len(self.events) + 1, name, data, final)
        self.events.append(event)
        self.finished = self.finished or final
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        Counters.stream_events += 1
        if self._writer is not None:
            self._writer.push(event)
        return event

    async def flushed(self) -> None:
        if self._writer is not None:
            await asyncio.shield(self._writer.task)

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


# Redis blocks a reader at most this long per call, below the client's socket timeout (5 s by default).
REDIS_BLOCK_SECONDS = 2.0


async def follow_redis(message_id: str, after: int, idle: float) -> AsyncIterator[Batch | None]:
    """Replay and follow a stream written by any process; ``None`` after each ``idle`` of silence."""
    key = redis_key("stream", message_id)
    last, quiet = "0-0", 0.0
    block = min(idle, REDIS_BLOCK_SECONDS)
    while True:
        answer: Any = await redis_client().xread({key: last}, count=200, block=max(int(block * 1000), 1))
        raise_if_cancelled()  # in case the client lost a cancellation in the blocking read
        if not answer:
            quiet += block
            if quiet >= idle:
                quiet = 0.0
                yield None
            continue
        quiet, batch, ended = 0.0, [], False
        for _key, entries in answer:
            for entry_id, fields in entries:
                last = entry_id
                for event in map(StreamEvent.from_wire, json.loads(fields[b"e"])):
                    ended = ended or event.final  # the end counts even when the reader already has it
                    if event.id > after:
                        batch.append(event)
        if batch:
            yield batch
        if ended:
            return


async def redis_log_exists(message_id: str) -> bool:
    return bool(await redis_client().exists(redis_key("stream", message_id)))


# A dead process may have sent readers events it never wrote to the log (up to one unflushed batch), so the
# terminal event that ends its stream is numbered well past anything a reader can have seen. Without a log
# (no Redis) nothing is known, so it is numbered past the longest possible answer.
ORPHAN_ID_GAP = 1000
ORPHAN_ID_WITHOUT_LOG = 1_000_000


async def orphan_log(message_id: str) -> tuple[int, str]:
    """For a stream whose generation died: the id its terminal event gets, and the text its log holds (the
    answer's row has none: it is only written when a generation ends)."""
    if not redis_enabled():
        return ORPHAN_ID_WITHOUT_LOG, ""
    entries: Any = await redis_client().xrange(redis_key("stream", message_id))
    logged = [StreamEvent.from_wire(item) for _, fields in entries for item in json.loads(fields[b"e"])]
    text = "".join(event.data.get("delta", "") for event in logged if event.name == COALESCED)
    return max((event.id for event in logged), default=0) + ORPHAN_ID_GAP, text


async def redis_log_append_final(event: StreamEvent) -> None:
    """End the log of a stream whose generation died with its terminal event."""
    key = redis_key("stream", event.data["message_id"])
    await redis_client().xadd(key, {"e": json.dumps([event.to_wire()])})
    await redis_client().expire(key, settings.STREAM_LOG_TTL_SECONDS)


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


hub = StreamHub()
