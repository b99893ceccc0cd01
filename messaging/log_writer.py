"""This process's writes to the shared logs (Redis Streams) of all its running answers.

Events wait at most ``STREAM_FLUSH_MS`` (or until ``FLUSH_EVENTS`` wait for one answer); the end of an answer is
written at once, with whatever else is waiting. One round trip then carries every answer's batch, as one call of
a Lua script: the process pays for one command per flush instead of one (and its reply) per answer, and this
runs on the event loop that forwards every token (docs/performance.md). The same call writes each answer's
owner key (messaging/owners.py) with its first batch and deletes it with its last.

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
from messaging.events import LOG_FIELD, StreamEvent, log_entry_text, log_key
from messaging.metrics import REDIS_STREAM_WRITES
from messaging.owners import owner_key

log = logging.getLogger(__name__)
throttled = LogThrottle(log)

FLUSH_EVENTS = 64
WRITE_WAIT_SECONDS = 10.0
# A long expiry with an answer's first write (in case this process dies), the configured one with its end.
RUNNING_LOG_TTL_SECONDS = 3600

# KEYS: each answer's log and owner key, in pairs. ARGV: the three expiries (running log, ended log, owner key),
# then each answer's batch and whether it is its first, its last, or neither.
WRITE_SCRIPT = f"""
local running, ended, owned = ARGV[1], ARGV[2], ARGV[3]
for i = 1, #KEYS, 2 do
  local n = (i + 1) / 2
  redis.call('XADD', KEYS[i], '*', '{LOG_FIELD}', ARGV[2 + 2 * n])
  local place = ARGV[3 + 2 * n]
  if place == 'last' then
    redis.call('EXPIRE', KEYS[i], ended)
    redis.call('DEL', KEYS[i + 1])
  elseif place == 'first' then
    redis.call('EXPIRE', KEYS[i], running)
    redis.call('SET', KEYS[i + 1], '1', 'EX', owned)
  end
end
return #KEYS / 2
"""


class RedisLog:
    def __init__(self) -> None:
        self.pending: dict[str, list[StreamEvent]] = {}
        self.started: set[str] = set()  # logs written to before (their expiry is set)
        self.ends: dict[str, asyncio.Future[None]] = {}  # set once an answer's last event is written
        self.urgent = False
        self.wake = asyncio.Event()
        self.writer = redis_client().register_script(WRITE_SCRIPT)
        self.task = asyncio.create_task(self._run(), context=contextvars.Context())

    def push(self, message_id: str, event: StreamEvent) -> None:
        batch = self.pending.setdefault(message_id, [])
        batch.append(event)
        if event.final:
            self.ends.setdefault(message_id, asyncio.get_running_loop().create_future())
        if event.final or len(batch) >= FLUSH_EVENTS:
            self.urgent = True
            self.wake.set()
        elif len(self.pending) == 1 and len(batch) == 1:
            self.wake.set()  # the first waiting event starts the flush timer; the others wake nobody

    async def written(self, message_id: str) -> None:
        """Until the answer's last event is in Redis (or failed to get there, or Redis hung for too long: the
        answer is stored either way, and a reader without the log replays it from the database)."""
        end = self.ends.get(message_id)
        if end is None:
            return
        try:
            async with asyncio.timeout(WRITE_WAIT_SECONDS):
                await asyncio.shield(end)
        except TimeoutError:
            log.warning("the end of the log of %s was not written to Redis in %s s", message_id, WRITE_WAIT_SECONDS)

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
                await self._script(batches)
            REDIS_STREAM_WRITES.inc(len(batches))
            written = True
        except ServiceUnavailable:  # (already logged) the live local readers still have every event
            throttled.warning("dropped", "dropped %d stream log batch(es): Redis is unreachable", len(batches))
        except Exception:
            log.exception("writing %d stream log(s) to Redis failed", len(batches))
        finally:
            self._written(batches, written)
        raise_if_cancelled()

    async def _script(self, batches: dict[str, list[StreamEvent]]) -> None:
        keys: list[str] = []
        args: list[str | int] = [
            max(settings.STREAM_LOG_TTL_SECONDS, RUNNING_LOG_TTL_SECONDS),
            settings.STREAM_LOG_TTL_SECONDS,
            settings.GENERATION_ORPHAN_SECONDS,
        ]
        for message_id, batch in batches.items():
            keys += [log_key(message_id), owner_key(message_id)]
            place = "last" if batch[-1].final else "first" if message_id not in self.started else "more"
            args += [log_entry_text(batch), place]
        await self.writer(keys=keys, args=args)

    def _written(self, batches: dict[str, list[StreamEvent]], written: bool) -> None:
        if written:  # (a log whose first write was dropped gets its expiry with the next one)
            self.started.update(batches)
        for message_id in [message_id for message_id, batch in batches.items() if batch[-1].final]:
            self.started.discard(message_id)
            end = self.ends.pop(message_id, None)
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
