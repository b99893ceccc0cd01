"""Following a message's stream from wherever it is: this process, the shared log, or the stored message.

A reader of an answer that runs in another process follows its log in Redis; the log of an answer that has ended
is decoded once for all its readers in this process. When the log cannot be read (Redis is unreachable, or the
log lost events in an outage) the reader keeps its connection alive with pings and watches the database instead:
it gets the stored end as soon as the answer has ended, and if that takes longer than
``STREAM_LOG_STALL_SECONDS`` its stream is closed, so that the client reconnects (an EventSource does so by
itself, with ``Last-Event-ID``) rather than wait on a silent connection. When Redis answers again and the log is
whole, the reader goes back to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from channels.db import database_sync_to_async
from django.conf import settings

from chatsite.db import db
from chatsite.errors import ServiceUnavailable
from chatsite.outages import DATABASE_OUTAGE_ERRORS, database_unavailable
from chatsite.redis import redis_enabled
from messaging.events import Batch
from messaging.hub import hub
from messaging.log_reader import REDIS_BLOCK_SECONDS, LogCursor, LogUnreadable, redis_log_exists, whole_log
from messaging.selectors import message_has_ended, stored_replay

POLL_SECONDS = 0.25
# How often a reader whose log is unreadable looks at the database (each look is a query: keep it cheap).
STALLED_POLL_SECONDS = 1.0


async def stream_follow(message_id: str, after: int) -> AsyncIterator[Batch | None]:
    """Every event after id ``after`` in batches, live until the end; ``None`` marks a quiet period (a ping)."""
    idle = settings.SSE_PING_SECONDS
    local = hub.local.get(message_id)
    if local is not None:
        async for batch in local.follow(after, idle):
            yield batch
        return
    if redis_enabled() and await _log_may_exist(message_id):
        logged = await whole_log(message_id) if await _has_ended(message_id) else None
        if logged is not None:  # one decoded copy of an ended answer's log for all its readers, not one each
            batch = [event for event in logged if (event.id or 0) > after]
            if batch:
                yield batch
            return
        async for batch in _follow_log(LogCursor(message_id, after), message_id, idle):
            yield batch
        return
    async for batch in _follow_database(message_id, after, idle):
        yield batch


async def _log_may_exist(message_id: str) -> bool:
    """Whether to follow the shared log: it exists, or Redis cannot tell (then the reader waits as for a log it
    cannot read: the database says when the answer ends)."""
    try:
        return await redis_log_exists(message_id)
    except ServiceUnavailable:
        return True


async def _follow_log(cursor: LogCursor, message_id: str, idle: float) -> AsyncIterator[Batch | None]:
    """The log while it can be read; the database while it cannot, until the end or the stall bound."""
    while True:
        async for batch in _read_log(cursor, message_id, idle):
            yield batch
        if cursor.ended:
            return
        async for batch in _wait_stalled(cursor, message_id, idle):
            yield batch
        if cursor.ended or not cursor.readable:
            return


async def _read_log(cursor: LogCursor, message_id: str, idle: float) -> AsyncIterator[Batch | None]:
    """Until the log ends (``cursor.ended``) or cannot be read."""
    block, quiet = min(idle, REDIS_BLOCK_SECONDS), 0.0
    while not cursor.ended:
        try:
            batch = await cursor.read(block)
        except LogUnreadable:
            return
        if batch:
            quiet = 0.0
            yield batch
            continue
        quiet += block
        if quiet >= idle and not cursor.ended:
            quiet = 0.0
            # Quiet for a while: if the answer has ended but its log never got the end (a failed write, an
            # expired log), finish from the database instead of pinging forever.
            async for item in _end_or_ping(cursor, message_id):
                yield item


async def _wait_stalled(cursor: LogCursor, message_id: str, idle: float) -> AsyncIterator[Batch | None]:
    """A ping at once and after each quiet ``idle`` while the log cannot be read, and the stored end once there is
    one. Returns when the log can be read again, at the end (``cursor.ended``), or after
    ``STREAM_LOG_STALL_SECONDS`` (the stream then closes)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    pinged = started - idle
    while loop.time() - started < settings.STREAM_LOG_STALL_SECONDS:
        ping = loop.time() - pinged >= idle
        async for item in _end_or_ping(cursor, message_id, ping=ping):
            pinged = loop.time() if item is None else pinged
            yield item
        if cursor.ended:
            return
        await asyncio.sleep(min(idle, STALLED_POLL_SECONDS))
        if cursor.readable:
            return


async def _end_or_ping(cursor: LogCursor, message_id: str, *, ping: bool = True) -> AsyncIterator[Batch | None]:
    """The stored end if the answer has ended (the cursor then ends too), else a ping (when ``ping``)."""
    try:
        replay = await _stored(message_id, cursor.after)
    except DATABASE_OUTAGE_ERRORS:
        replay = None
    if replay is not None:
        cursor.ended = True
        if replay:
            yield replay
    elif ping:
        yield None


async def _follow_database(message_id: str, after: int, idle: float) -> AsyncIterator[Batch | None]:
    """No log here: the answer ended long ago, started in another process a moment ago, or its process died
    (and the reaper will end it). Look at the stored message until it has ended; if the database itself stops
    answering for ``STREAM_LOG_STALL_SECONDS``, close the stream."""
    loop = asyncio.get_running_loop()
    quiet, answered = 0.0, loop.time()
    while True:
        try:
            replay = await _stored(message_id, after)
            answered = loop.time()
        except DATABASE_OUTAGE_ERRORS:
            replay = None
            if loop.time() - answered >= settings.STREAM_LOG_STALL_SECONDS:
                return
        if replay is not None:
            break
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS
        if quiet >= idle:
            quiet = 0.0
            yield None
    if replay:
        yield replay


async def _has_ended(message_id: str) -> bool:
    """Whether the stored answer has ended (``False`` when the database cannot say: the log is followed)."""
    try:
        return await db(message_has_ended)(message_id=message_id)
    except DATABASE_OUTAGE_ERRORS:
        return False


async def _stored(message_id: str, after: int) -> Batch | None:
    """The stored end after ``after`` (``None`` while the answer streams). A database outage is logged (once per
    interval) and raised."""
    try:
        # (closes its connection after each look: a reader may poll for a while)
        return await database_sync_to_async(stored_replay)(message_id=message_id, after=after)
    except DATABASE_OUTAGE_ERRORS as error:
        database_unavailable(error, "following a stream")
        raise
