"""The shared Redis connection, when ``REDIS_URL`` is set. One client per event loop that uses it."""

from __future__ import annotations

import asyncio
import weakref

import redis.asyncio as aioredis
from django.conf import settings

# Per event loop (a client's connections belong to the loop that opened them). Weak keys: a closed loop's
# client goes with it, and a new loop that happens to get the old one's id() never sees it.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


def redis_client() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        _clients[loop] = client
    return client


def redis_key(*parts: str) -> str:
    return ":".join((settings.REDIS_PREFIX, *parts))


def cancelling() -> bool:
    """Whether the current task is being cancelled. A library can lose a cancellation (redis-py turns one into
    its own errors; its 8.x releases even return normally from a cancelled command), so a loop that must end
    when cancelled checks this after such calls."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def raise_if_cancelled() -> None:
    if cancelling():
        raise asyncio.CancelledError
