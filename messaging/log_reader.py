"""Reading the shared log of an answer written by any process: follow it live, or read what a dead one left."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from django.conf import settings

from chatsite.errors import ServiceUnavailable
from chatsite.outages import redis_call, redis_health
from chatsite.redis import raise_if_cancelled, redis_client, redis_enabled
from messaging import events
from messaging.events import Batch, StreamEvent, log_entry, log_entry_events, log_key

# Redis blocks a reader at most this long per call.
REDIS_BLOCK_SECONDS = 2.0
# Entries a live reader reads at a time: each holds a flush's events (a few hundred bytes while streaming, up to a
# whole answer's end), and every live reader decodes its own copy, so a read stays small (the log of an answer
# that has ended is decoded once for all its readers: ``whole_log``).
READ_ENTRIES = 8


class LogUnreadable(Exception):
    """The log cannot be followed from here: Redis is unreachable, or the log lost events (a write dropped during
    an outage, or a Redis that restarted empty while the answer ran)."""


class LogCursor:
    """A reader's place in an answer's log: the last entry it read, and the id of the last event it delivered.

    Events must follow one another without a gap; a gap means the log lost events, and from then on the cursor
    is broken (the reader must take the rest from the database). That also covers the end a dead generation's
    log gets, numbered well past what it held (``events.ORPHAN_ID_GAP``): its answer is stored by then.
    """

    def __init__(self, message_id: str, after: int) -> None:
        self.key = log_key(message_id)
        self.entry = "0-0"
        self.after = after
        self.ended = False
        self.broken = False

    @property
    def readable(self) -> bool:
        return not self.broken and not redis_health.down

    async def read(self, block: float) -> Batch:
        """The next events; empty when none came within ``block`` seconds. Raises ``LogUnreadable``."""
        if self.broken:
            raise LogUnreadable
        try:
            async with redis_call("following a stream log", blocking=block):
                wait_ms = max(int(block * 1000), 1)
                answer: Any = await redis_client().xread({self.key: self.entry}, count=READ_ENTRIES, block=wait_ms)
        except ServiceUnavailable:
            raise LogUnreadable from None
        raise_if_cancelled()  # in case the client lost a cancellation in the blocking read
        return self._take(answer or [])

    def _take(self, answer: list[Any]) -> Batch:
        batch: Batch = []
        for _key, entries in answer:
            for entry_id, fields in entries:
                for event in log_entry_events(fields):
                    if (event.id or 0) <= self.after:  # (logged events always have an id)
                        self.ended = self.ended or event.final  # the end counts even when the reader has it
                        continue
                    if event.id != events.next_id(self.after):
                        self.broken = True
                        return batch
                    batch.append(event)
                    self.after, self.ended = event.id, event.final
                self.entry = entry_id
        return batch


async def redis_log_exists(message_id: str) -> bool:
    """Whether the answer has a log; raises ``ServiceUnavailable`` when Redis cannot say."""
    async with redis_call("looking for a stream log"):
        return bool(await redis_client().exists(log_key(message_id)))


class WholeLog(list[StreamEvent]):
    """Every event of an ended answer's log, decoded once and shared by all its readers in this process (weakly
    cached: the readers keep it alive while they write it)."""


_whole_logs: weakref.WeakValueDictionary[str, WholeLog] = weakref.WeakValueDictionary()
_reading: dict[str, asyncio.Future[WholeLog | None]] = {}


async def whole_log(message_id: str) -> WholeLog | None:
    """The events of the log of an answer that has ended, if the log holds all of them (numbered without a gap,
    through the end); ``None`` if it does not or cannot be read. However many readers ask at the same moment,
    the log is read and decoded once."""
    cached = _whole_logs.get(message_id)
    if cached is not None:
        return cached
    pending = _reading.get(message_id)
    if pending is not None:
        return await asyncio.shield(pending)
    pending = _reading[message_id] = asyncio.get_running_loop().create_future()
    try:
        logged = await _read_whole(message_id)
        if logged is not None:
            _whole_logs[message_id] = logged
        pending.set_result(logged)
        return logged
    except BaseException:  # (this reader failed or was cancelled: the others waiting on it follow the log)
        pending.set_result(None)
        raise
    finally:
        del _reading[message_id]


async def _read_whole(message_id: str) -> WholeLog | None:
    try:
        async with redis_call("replaying a stream log"):
            entries: Any = await redis_client().xrange(log_key(message_id))
    except ServiceUnavailable:
        return None
    logged = WholeLog(event for _, fields in entries for event in log_entry_events(fields))
    numbered = [event.id for event in logged] == list(range(events.FIRST_ID, events.FIRST_ID + len(logged)))
    return logged if numbered and logged and logged[-1].final else None


async def orphan_log(message_id: str) -> tuple[int, str, str]:
    """For a stream whose generation died: the id its terminal event gets, and the text and the reasoning its
    log holds (the answer's row has neither: they are only written when a generation ends)."""
    if not redis_enabled():
        return events.orphan_end_id(None), "", ""
    async with redis_call("reading a dead generation's log"):
        entries: Any = await redis_client().xrange(log_key(message_id))
    logged = [event for _, fields in entries for event in log_entry_events(fields)]

    def joined(name: str) -> str:
        return "".join(event.data["delta"] for event in logged if event.name == name)

    end_id = events.orphan_end_id(max((event.id or 0 for event in logged), default=0))
    return end_id, joined(events.ASSISTANT_DELTA), joined(events.ASSISTANT_REASONING_DELTA)


async def log_end_append(message_id: str, event: StreamEvent) -> None:
    """End the log of a stream whose generation died with its terminal event."""
    key = log_key(message_id)
    async with redis_call("ending a dead generation's log"):
        await redis_client().xadd(key, log_entry([event]))
        await redis_client().expire(key, settings.STREAM_LOG_TTL_SECONDS)
