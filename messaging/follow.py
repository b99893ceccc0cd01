"""Following a message's stream from wherever it is: this process, the shared log, or the stored message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from channels.db import database_sync_to_async
from django.conf import settings

from chatsite.redis import redis_enabled
from messaging.events import Batch
from messaging.hub import hub
from messaging.log_reader import follow_redis, redis_log_exists
from messaging.selectors import stored_replay

POLL_SECONDS = 0.25


async def stream_follow(message_id: str, after: int) -> AsyncIterator[Batch | None]:
    """Every event after id ``after`` in batches, live until the end; ``None`` marks a quiet period (a ping)."""
    idle = settings.SSE_PING_SECONDS
    local = hub.local.get(message_id)
    if local is not None:
        async for batch in local.follow(after, idle):
            yield batch
        return
    if redis_enabled() and await redis_log_exists(message_id):
        async for batch in _follow_log(message_id, after, idle):
            yield batch
        return
    async for batch in _follow_database(message_id, after, idle):
        yield batch


async def _follow_log(message_id: str, after: int, idle: float) -> AsyncIterator[Batch | None]:
    async for batch in follow_redis(message_id, after, idle):
        if batch is not None:
            after = max(after, batch[-1].id or 0)
            yield batch
            continue
        # Quiet for a while: if the answer has ended but its log never got the end (a failed write, an
        # expired log), finish from the database instead of pinging forever.
        replay = await _stored(message_id, after)
        if replay is not None:
            if replay:
                yield replay
            return
        yield None


async def _follow_database(message_id: str, after: int, idle: float) -> AsyncIterator[Batch | None]:
    """No log here: the answer ended long ago, started in another process a moment ago, or its process died
    (and the reaper will end it). Look at the stored message until it has ended."""
    quiet = 0.0
    while (replay := await _stored(message_id, after)) is None:
        await asyncio.sleep(POLL_SECONDS)
        quiet += POLL_SECONDS
        if quiet >= idle:
            quiet = 0.0
            yield None
    if replay:
        yield replay


async def _stored(message_id: str, after: int) -> Batch | None:
    # (closes its connection after each look: a reader may poll for a while)
    return await database_sync_to_async(stored_replay)(message_id=message_id, after=after)
