"""This process's background work, for as long as it serves: owner keys kept fresh, dead generations reaped,
stop requests listened for."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref

from django.conf import settings

from chatsite.redis import cancelling, raise_if_cancelled, redis_enabled
from messaging.owners import owners
from messaging.recovery import generations_reap
from messaging.stops import stops_listen

log = logging.getLogger(__name__)


async def _maintain() -> None:
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


def maintenance_start() -> None:
    """Start this process's maintenance (once per event loop; every later call does nothing)."""
    loop = asyncio.get_running_loop()
    if loop in _tasks:
        return
    # A fresh context each: these outlive the request that happened to start them.
    tasks = [asyncio.create_task(_maintain(), context=contextvars.Context())]
    if redis_enabled():
        tasks.append(asyncio.create_task(stops_listen(), context=contextvars.Context()))
    _tasks[loop] = tasks
