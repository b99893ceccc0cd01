"""The shared Redis connection, when ``REDIS_URL`` is set. One client per event loop that uses it."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

# An idle pooled connection is pinged before it is used again, so one that a restarted Redis (or a firewall)
# dropped fails there, where the retry below replaces it, not in the middle of a caller's command.
HEALTH_CHECK_SECONDS = 10

# Per event loop (a client's connections belong to the loop that opened them). Weak keys: a closed loop's
# client goes with it, and a new loop that happens to get the old one's id() never sees it.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


def redis_client() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL, **redis_options())
        _clients[loop] = client
    return client


def redis_options() -> dict[str, Any]:
    """How every Redis connection of this process behaves: connecting waits at most ``REDIS_TIMEOUT_SECONDS``,
    and a broken connection is retried once, at once, on a fresh one (a restarted Redis). Never with backoff: a
    caller that would rather wait for Redis to come back decides that itself.

    There is deliberately no ``socket_timeout``: with one, redis-py bounds each write with ``asyncio.wait_for``,
    which on Python 3.11 loses a cancellation that arrives as the write completes (tests/chatsite/test_redis.py
    then fails). Commands are bounded by their caller instead, with ``asyncio.timeout``
    (``chatsite.outages.redis_call``), which loses none."""
    return {
        "socket_connect_timeout": settings.REDIS_TIMEOUT_SECONDS,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "retry": Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
    }


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
