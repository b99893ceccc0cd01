"""Who runs which generation. With Redis, a process holds an owner key per running generation (refreshed while
it runs), so any process can tell a generation whose process died. Without Redis there is one process, so a
``streaming`` message it is not running has no owner at all.

A generation does not depend on its key being written: while Redis is unreachable it runs on, and its key is
written again as soon as Redis answers (``refresh_all`` runs on recovery). No other process can reap it
meanwhile, since none can read the keys either (and recovery asks for two passes in a row without a key).
"""

from __future__ import annotations

from django.conf import settings

from chatsite.outages import redis_call
from chatsite.redis import redis_client, redis_enabled, redis_key


def owner_key(message_id: str) -> str:
    return redis_key("owner", message_id)


class Owners:
    """The owner keys of the generations running in this process. A generation's key is written with the first
    batch of its log and deleted with the last (messaging/log_writer.py); here they are kept fresh."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    async def _refresh(self, message_ids: list[str]) -> None:
        if not message_ids:
            return
        async with redis_call("refreshing owner keys"), redis_client().pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.set(owner_key(message_id), "1", ex=settings.GENERATION_ORPHAN_SECONDS)
            await pipe.execute()

    async def refresh_all(self) -> None:
        """Raises ``ServiceUnavailable`` while Redis is unreachable."""
        await self._refresh(list(self.ids))

    async def alive(self, message_ids: list[str]) -> set[str]:
        """Which of these generations some process is running; raises ``ServiceUnavailable`` when Redis cannot
        tell (never take that for "none of them")."""
        if not redis_enabled():
            return {message_id for message_id in message_ids if message_id in self.ids}
        if not message_ids:
            return set()
        async with redis_call("reading owner keys"):
            values = await redis_client().mget([owner_key(m) for m in message_ids])
        return {m for m, value in zip(message_ids, values, strict=True) if value is not None or m in self.ids}


owners = Owners()
