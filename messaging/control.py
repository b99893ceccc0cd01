"""Control of generations across processes: who runs which, stop requests, and recovery after a crash.

With Redis, a process holds an owner key per running generation (refreshed while it runs), stop requests are
published to every process, and any process can fail a generation whose owner key has lapsed. Without Redis
there is one process, so a ``streaming`` message it is not running has no owner at all.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from datetime import timedelta

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from chatsite.redis import cancelling, raise_if_cancelled, redis_client, redis_enabled, redis_key

log = logging.getLogger(__name__)

STOP_CHANNEL = "stop"


class Owners:
    """The owner keys of the generations running in this process."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    async def claim(self, message_id: str) -> None:
        self.ids.add(message_id)
        if redis_enabled():
            await self._refresh([message_id])

    async def release(self, message_id: str) -> None:
        self.ids.discard(message_id)
        if redis_enabled():
            await redis_client().delete(redis_key("owner", message_id))

    async def _refresh(self, message_ids: list[str]) -> None:
        if not message_ids:
            return
        async with redis_client().pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.set(redis_key("owner", message_id), "1", ex=settings.GENERATION_ORPHAN_SECONDS)
            await pipe.execute()

    async def refresh_all(self) -> None:
        await self._refresh(list(self.ids))

    async def alive(self, message_ids: list[str]) -> set[str]:
        """Which of these generations some process is running."""
        if not redis_enabled():
            return {message_id for message_id in message_ids if message_id in self.ids}
        if not message_ids:
            return set()
        values = await redis_client().mget([redis_key("owner", m) for m in message_ids])
        return {m for m, value in zip(message_ids, values, strict=True) if value is not None or m in self.ids}


owners = Owners()


async def stop_request(message_id: str) -> None:
    """Ask whichever process runs this generation to stop it."""
    from messaging.streams import hub

    stream = hub.local.get(message_id)
    if stream is not None:
        stream.stop_requested.set()
    elif redis_enabled():
        await redis_client().publish(redis_key(STOP_CHANNEL), message_id)


async def _listen_for_stops() -> None:
    """Relay stop requests published by any process to the generations running here; reconnect on errors."""
    from messaging.streams import hub

    while True:
        try:
            async with redis_client().pubsub() as pubsub:
                await pubsub.subscribe(redis_key(STOP_CHANNEL))
                while True:
                    # Polled rather than ``listen()``: a cancellation lost in a blocking read would otherwise
                    # keep this task, and the event loop closing under it, alive for ever.
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    raise_if_cancelled()
                    if message is None or message.get("type") != "message":
                        continue
                    stream = hub.local.get(message["data"].decode())
                    if stream is not None:
                        stream.stop_requested.set()
        except Exception:
            if cancelling():
                raise
            log.exception("listening for stop requests failed; reconnecting")
            await asyncio.sleep(1)


_suspects: set[str] = set()


async def generations_reap() -> int:
    """Fail the ``streaming`` messages nobody runs any more; return how many."""
    from messaging.recovery import orphan_candidates, orphan_fail, reservations_orphaned_release
    from messaging.streams import orphan_log, redis_log_append_final

    cutoff = timezone.now() - timedelta(seconds=settings.GENERATION_ORPHAN_SECONDS)
    await database_sync_to_async(reservations_orphaned_release)(opened_before=cutoff)
    candidates = await database_sync_to_async(orphan_candidates)(started_before=cutoff)
    alive = await owners.alive(candidates)
    # An owner key can vanish for a moment (Redis restarted, a slow refresh): a generation is only taken for
    # dead when its key was missing on the previous pass too, a refresh period ago.
    missing = {message_id for message_id in candidates if message_id not in alive}
    confirmed = missing & _suspects if redis_enabled() else missing
    _suspects.clear()
    _suspects.update(missing)
    reaped = 0
    for message_id in candidates:
        if message_id not in confirmed:
            continue
        end_id, content = await orphan_log(message_id)
        terminal = await database_sync_to_async(orphan_fail)(message_id=message_id, end_id=end_id, content=content)
        if terminal is None:
            continue
        reaped += 1
        if redis_enabled():
            await redis_log_append_final(terminal)
    if reaped:
        log.warning("marked %d orphaned generation(s) failed", reaped)
    return reaped


async def _maintain() -> None:
    """Keep owner keys fresh and reap orphans, for as long as the process serves."""
    period = max(settings.GENERATION_ORPHAN_SECONDS / 3, 0.2)
    while True:
        try:
            if redis_enabled():
                await owners.refresh_all()
            await generations_reap()
        except Exception:
            if cancelling():
                raise
            log.exception("generation maintenance failed; retrying")
        raise_if_cancelled()  # a lost cancellation would keep a closing event loop waiting for this task
        await asyncio.sleep(period)


# Per event loop, weakly: a test's closed loop and its tasks are forgotten, never mistaken for a new loop.
_tasks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[asyncio.Task[None]]] = weakref.WeakKeyDictionary()


def control_start() -> None:
    """Start this process's maintenance (once per event loop): owner keys, orphan reaping, stop listening."""
    loop = asyncio.get_running_loop()
    if loop in _tasks:
        return
    # A fresh context each: these outlive the request that happened to start them.
    tasks = [asyncio.create_task(_maintain(), context=contextvars.Context())]
    if redis_enabled():
        tasks.append(asyncio.create_task(_listen_for_stops(), context=contextvars.Context()))
    _tasks[loop] = tasks
