"""This process's background work, for as long as it serves: owner keys and socket presence kept fresh, dead
generations reaped, stop requests listened for, dependencies probed."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections.abc import Awaitable, Callable

from django.conf import settings

from chatsite.errors import ServiceUnavailable
from chatsite.outages import DATABASE_OUTAGE_ERRORS, database_unavailable, dependencies_watch, redis_health
from chatsite.presence import presence_keep, presence_refresh
from chatsite.redis import cancelling, raise_if_cancelled, redis_enabled
from messaging.owners import owners
from messaging.recovery import generations_reap
from messaging.stops import stops_listen

log = logging.getLogger(__name__)


async def _attempt(work: Callable[[], Awaitable[object]], doing: str) -> None:
    """Run one piece of maintenance; an outage is logged once per interval (the next period tries again)."""
    try:
        await work()
    except ServiceUnavailable:
        pass  # Redis: logged where it failed
    except DATABASE_OUTAGE_ERRORS as error:
        database_unavailable(error, doing)
    except Exception:
        if cancelling():
            raise
        log.exception("generation maintenance failed while %s; retrying", doing)


async def _maintain() -> None:
    period = max(settings.GENERATION_ORPHAN_SECONDS / 3, 0.2)
    while True:
        if redis_enabled():
            await _attempt(owners.refresh_all, "refreshing owner keys")
        await _attempt(generations_reap, "reaping orphaned generations")
        raise_if_cancelled()  # a lost cancellation would keep a closing event loop waiting for this task
        await asyncio.sleep(period)


# Per event loop, weakly: a test's closed loop and its tasks are forgotten, never mistaken for a new loop.
_tasks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[asyncio.Task[None]]] = weakref.WeakKeyDictionary()


def maintenance_start() -> None:
    """Start this process's maintenance (once per event loop; every later call does nothing)."""
    loop = asyncio.get_running_loop()
    if loop in _tasks:
        return
    # A fresh context each: these outlive the request that happened to start them.
    tasks = [
        asyncio.create_task(_maintain(), context=contextvars.Context()),
        asyncio.create_task(dependencies_watch(), context=contextvars.Context()),
    ]
    if redis_enabled():
        # Owner keys and socket presence may have been lost with Redis (a restart): write them back as soon as it
        # answers.
        redis_health.on_recovery(_owner_keys_restore)
        redis_health.on_recovery(presence_refresh)
        tasks.append(asyncio.create_task(stops_listen(), context=contextvars.Context()))
        tasks.append(asyncio.create_task(presence_keep(), context=contextvars.Context()))
    _tasks[loop] = tasks


async def _owner_keys_restore() -> None:
    await _attempt(owners.refresh_all, "restoring owner keys")
