"""Reading the shared log of an answer written by any process: follow it live, or read what a dead one left."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings

from chatsite.redis import raise_if_cancelled, redis_client, redis_enabled
from messaging import events
from messaging.events import Batch, StreamEvent, log_entry, log_entry_events, log_key

# Redis blocks a reader at most this long per call, below the client's socket timeout (5 s by default).
REDIS_BLOCK_SECONDS = 2.0
READ_ENTRIES = 200


async def follow_redis(message_id: str, after: int, idle: float) -> AsyncIterator[Batch | None]:
    """Replay and follow a stream written by any process; ``None`` after each ``idle`` of silence."""
    key = log_key(message_id)
    last, quiet = "0-0", 0.0
    block = min(idle, REDIS_BLOCK_SECONDS)
    while True:
        answer: Any = await redis_client().xread({key: last}, count=READ_ENTRIES, block=max(int(block * 1000), 1))
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
                for event in log_entry_events(fields):
                    ended = ended or event.final  # the end counts even when the reader already has it
                    if event.id > after:
                        batch.append(event)
        if batch:
            yield batch
        if ended:
            return


async def redis_log_exists(message_id: str) -> bool:
    return bool(await redis_client().exists(log_key(message_id)))


async def orphan_log(message_id: str) -> tuple[int, str, str]:
    """For a stream whose generation died: the id its terminal event gets, and the text and the reasoning its
    log holds (the answer's row has neither: they are only written when a generation ends)."""
    if not redis_enabled():
        return events.orphan_end_id(None), "", ""
    entries: Any = await redis_client().xrange(log_key(message_id))
    logged = [event for _, fields in entries for event in log_entry_events(fields)]

    def joined(name: str) -> str:
        return "".join(event.data["delta"] for event in logged if event.name == name)

    end_id = events.orphan_end_id(max((event.id for event in logged), default=0))
    return end_id, joined(events.ASSISTANT_DELTA), joined(events.ASSISTANT_REASONING_DELTA)


async def log_end_append(message_id: str, event: StreamEvent) -> None:
    """End the log of a stream whose generation died with its terminal event."""
    key = log_key(message_id)
    await redis_client().xadd(key, log_entry([event]))
    await redis_client().expire(key, settings.STREAM_LOG_TTL_SECONDS)
