"""Who runs which generation. With Redis, a process holds an owner key per running generation (refreshed while
it runs), so any process can tell a generation whose process died. Without Redis there is one process, so a
``streaming`` message it is not running has no owner at all."""

from __future__ import annotations

from django.conf import settings

from chatsite.redis import redis_client, redis_enabled, redis_key


def _key(message_id: str) -> str:
    return redis_key("owner", message_id)


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
            await redis_client().delete(_key(message_id))

    async def _refresh(self, message_ids: list[str]) -> None:
        if not message_ids:
            return
        async with redis_client().pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.set(_key(message_id), "1", ex=settings.GENERATION_ORPHAN_SECONDS)
            await pipe.execute()

    async def refresh_all(self) -> None:
        await self._refresh(list(self.ids))

    async def alive(self, message_ids: list[str]) -> set[str]:
        """Which of these generations some process is running."""
        if not redis_enabled():
            return {message_id for message_id in message_ids if message_id in self.ids}
        if not message_ids:
            return set()
        values = await redis_client().mget([_key(m) for m in message_ids])
        return {m for m, value in zip(message_ids, values, strict=True) if value is not None or m in self.ids}


owners = Owners()
