"""What the server needs from its Redis client."""

from __future__ import annotations

import asyncio
import random

import pytest

from chatsite.redis import redis_client, redis_key

pytestmark = pytest.mark.redis


async def test_a_task_cancelled_in_the_middle_of_redis_commands_is_cancelled() -> None:
    """A reader that left, a stopped answer and a worker shutting down are all task cancellations. redis-py 8.0
    and 8.1 return normally from most commands cancelled mid-flight, so such tasks run on (this is what once
    hung CI's event loops): this fails on those releases."""
    key = redis_key("cancel-probe")
    outcomes: list[str] = []

    async def commands() -> None:
        try:
            while True:
                await redis_client().set(key, "x", ex=10)
                await redis_client().mget([key, key])
                if asyncio.current_task().cancelling():  # type: ignore[union-attr]
                    outcomes.append("lost")
                    return
        except asyncio.CancelledError:
            outcomes.append("cancelled")
            raise

    for _ in range(100):
        task = asyncio.create_task(commands())
        await asyncio.sleep(random.uniform(0, 0.003))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    assert outcomes.count("lost") == 0, f"{outcomes.count('lost')} of 100 cancellations were lost"
