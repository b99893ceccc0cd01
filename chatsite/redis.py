"""The shared Redis connection, when ``REDIS_URL`` is set. One client per event loop that uses it."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from django.conf import settings

_clients: dict[int, aioredis.Redis] = {}


def redis_enabled() -> bool:
    return bool(settings.REDIS_URL)


def redis_client() -> aioredis.Redis:
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None:
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        _clients[loop_id] = client
    return client


def redis_key(*parts: str) -> str:
    return ":".join((settings.REDIS_PREFIX, *parts))
