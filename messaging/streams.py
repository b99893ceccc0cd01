"""The event log of each generation, and the process-local hub that runs it.

A generation appends its events (the SSE events with their ids) to a ``LocalStream`` in the process that runs
it. Readers in that process follow the local stream and get every chunk the moment it exists. When
``REDIS_URL`` is set the stream is also written to a Redis Stream, deltas coalesced for up to
``STREAM_FLUSH_MS`` and all of the process's answers in one pipelined write (``RedisLog``), so a reader in any
other process can replay it and follow it live. A reader that finds no
log at all (expired, or the process died before it wrote one) gets the stored message from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from chatsite.redis import raise_if_cancelled, redis_client, redis_enabled, redis_key

log = logging.getLogger(__name__)

COALESCED = "assistant_delta"
FLUSH_EVENTS = 64
WRITE_WAIT_SECONDS = 10.0


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


class RedisLog:
    """This process's writes to the Redis logs of all its running answers, in one pipeline per flush.

    Deltas wait at most ``STREAM_FLUSH_MS`` (or until ``FLUSH_EVENTS`` are waiting for one answer); any other
    event is written at once, with whatever else is waiting. One round trip then carries every answer's batch:
    a command in a pipeline costs this process about a tenth of a command sent alone (measured 12-18 us against
    120-130 us of CPU per XADD), and this runs on the event loop that forwards every token.
    """

    def __init__(self) -> None:
        self.pending: dict[str, list[StreamEvent]] = {}
        self.started: set[str] = set()  # logs written to before (their expiry is set)
        self.ends: dict[str, asyncio.Future[None]] = {}  # set once an answer's last event is written
        self.urgent = False
        self.wake = asyncio.Event()
        self.task = asyncio.create_task(self._run(), context=contextvars.Context())

    def push(self, key: str, event: StreamEvent) -> None:
        batch = self.pending.setdefault(key, [])
        batch.append(event)
        if event.final:
            self.ends.setdefault(key, asyncio.get_running_loop().create_future())
        if event.name != COALESCED or len(batch) >= FLUSH_EVENTS:
            self.urgent = True
            self.wake.set()
        elif len(self.pending) == 1 and len(batch) == 1:
            self.wake.set()  # the first waiting delta starts the flush timer; the others wake nobody

    async def written(self, key: str) -> None:
        """Until the answer's last event is in Redis (or failed to get there, or Redis hung for too long: the
        answer is stored either way, and a reader without the log replays it from the database)."""
        end = self.ends.get(key)
        if end is None:
            return
        try:
            async with asyncio.timeout(WRITE_WAIT_SECONDS):
                await asyncio.shield(end)
        except TimeoutError:
            log.warning("the end of stream log %s was not written to Redis in %s s", key, WRITE_WAIT_SECONDS)

    async def _run(self) -> None:
        flush_s = settings.STREAM_FLUSH_MS / 1000
        while True:
            await self.wake.wait()
            self.wake.clear()
            if not self.urgent and flush_s:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(flush_s):
                        await self.wake.wait()  # only an urgent event cuts the wait short
            batches, self.pending, self.urgent = self.pending, {}, False
            self.wake.clear()
            await self._write(batches)

    async def _write(self, batches: dict[str, list[StreamEvent]]) -> None:
        if not batches:
            return
        ended = [key for key, batch in batches.items() if batch[-1].final]
        try:
            async with redis_client().pipeline(transaction=False) as pipe:
                for key, batch in batches.items():
                    pipe.xadd(key, {"e": json.dumps([event.to_wire() for event in batch], separators=(",", ":"))})
                    final = batch[-1].final
                    if final or key not in self.started:
                        # A long expiry with the first write (in case this process dies), the real one at the end.
                        ttl = settings.STREAM_LOG_TTL_SECONDS if final else max(settings.STREAM_LOG_TTL_SECONDS, 3600)
                        pipe.expire(key, ttl)
                results = await pipe.execute(raise_on_error=False)
            for failure in (result for result in results if isinstance(result, Exception)):
                log.error("writing a stream log to Redis failed: %s", failure)
            Counters.redis_stream_writes += len(batches)
        except Exception:  # the live local readers still have every event; only remote replay suffers
            log.exception("writing %d stream log(s) to Redis failed", len(batches))
        finally:
            self.started.update(batches)
            for key in ended:
                self.started.discard(key)
                end = self.ends.pop(key, None)
                if end is not None and not end.done():
                    end.set_result(None)
        raise_if_cancelled()


# Per event loop, weakly (see chatsite/redis.py).
_logs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisLog] = weakref.WeakKeyDictionary()


def redis_log() -> RedisLog:
    loop = asyncio.get_running_loop()
    writer = _logs.get(loop)
    if writer is None:
        writer = _logs[loop] = RedisLog()
    return writer


class LocalStream:
    """The events of one running generation in this process, and a way to wait for the next one."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        self.events: list[StreamEvent] = []
        self.finished = False
        self.stop_requested = asyncio.Event()
        self._changed = asyncio.Event()
        self._log_key = redis_key("stream", message_id) if redis_enabled() else None

    def emit(self, name: str, data: dict[str, Any], *, final: bool = False) -> StreamEvent:
        event = StreamEvent(len(self.events) + 1, name, data, final)
        self.events.append(event)
        self.finished = self.finished or final
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        Counters.stream_events += 1
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
