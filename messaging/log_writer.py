"""This process's writes to the shared logs (Redis Streams) of all its running answers.

Deltas wait at most ``STREAM_FLUSH_MS`` (or until ``FLUSH_EVENTS`` wait for one answer); any other event is
written at once, with whatever else is waiting. One pipelined round trip then carries every answer's batch: a
command in a pipeline costs this process about a tenth of a command sent alone (docs/performance.md), and this
runs on the event loop that forwards every token.

While Redis is unreachable the batches are dropped (logged once per interval, never retried): the answer still
runs, its readers in this process still get every event, and it is stored and settled as usual. A reader in
another process notices the gap this leaves in the log and finishes from the database (messaging/follow.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import weakref

from django.conf import settings

from chatsite.errors import ServiceUnavailable
from chatsite.outages import LogThrottle, redis_call
from chatsite.redis import raise_if_cancelled, redis_client
from messaging.events import COALESCED, StreamEvent, log_entry
from messaging.metrics import REDIS_STREAM_WRITES

log = logging.getLogger(__name__)
throttled = LogThrottle(log)

FLUSH_EVENTS = 64
WRITE_WAIT_SECONDS = 10.0
# A long expiry with an answer's first write (in case this process dies), the configured one with its end.
RUNNING_LOG_TTL_SECONDS = 3600


class RedisLog:
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
        if event.name not in COALESCED or len(batch) >= FLUSH_EVENTS:
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
        written = False
        try:
            async with redis_call("writing stream logs"):
                results = await self._pipeline(batches)
            for failure in (result for result in results if isinstance(result, Exception)):
                throttled.warning("command", "writing a stream log to Redis failed: %s", failure)
            REDIS_STREAM_WRITES.inc(len(batches))
            written = True
        except ServiceUnavailable:  # (already logged) the live local readers still have every event
            throttled.warning("dropped", "dropped %d stream log batch(es): Redis is unreachable", len(batches))
        except Exception:
            log.exception("writing %d stream log(s) to Redis failed", len(batches))
        finally:
            self._written(batches, written)
        raise_if_cancelled()

    async def _pipeline(self, batches: dict[str, list[StreamEvent]]) -> list[object]:
        async with redis_client().pipeline(transaction=False) as pipe:
            for key, batch in batches.items():
                pipe.xadd(key, log_entry(batch))
                if batch[-1].final:
                    pipe.expire(key, settings.STREAM_LOG_TTL_SECONDS)
                elif key not in self.started:
                    pipe.expire(key, max(settings.STREAM_LOG_TTL_SECONDS, RUNNING_LOG_TTL_SECONDS))
            return list(await pipe.execute(raise_on_error=False))

    def _written(self, batches: dict[str, list[StreamEvent]], written: bool) -> None:
        if written:  # (a log whose first write was dropped gets its expiry with the next one)
            self.started.update(batches)
        for key in [key for key, batch in batches.items() if batch[-1].final]:
            self.started.discard(key)
            end = self.ends.pop(key, None)
            if end is not None and not end.done():
                end.set_result(None)


# Per event loop, weakly (see chatsite/redis.py).
_logs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RedisLog] = weakref.WeakKeyDictionary()


def redis_log() -> RedisLog:
    loop = asyncio.get_running_loop()
    writer = _logs.get(loop)
    if writer is None:
        writer = _logs[loop] = RedisLog()
    return writer
