"""Stop requests: any process can ask the one running a generation to stop it (published through Redis)."""

from __future__ import annotations

import asyncio
import logging

from chatsite.redis import cancelling, raise_if_cancelled, redis_client, redis_enabled, redis_key
from messaging.hub import hub

log = logging.getLogger(__name__)

STOP_CHANNEL = "stop"


async def stop_request(message_id: str) -> None:
    """Ask whichever process runs this generation to stop it."""
    if not hub.stop(message_id) and redis_enabled():
        await redis_client().publish(redis_key(STOP_CHANNEL), message_id)


async def stops_listen() -> None:
    """Relay stop requests published by any process to the generations running here; reconnect on errors."""
    while True:
        try:
            async with redis_client().pubsub() as pubsub:
                await pubsub.subscribe(redis_key(STOP_CHANNEL))
                while True:
                    # Polled rather than ``listen()``: a cancellation lost in a blocking read would otherwise
                    # keep this task, and the event loop closing under it, alive for ever.
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    raise_if_cancelled()
                    if message is not None and message.get("type") == "message":
                        hub.stop(message["data"].decode())
        except Exception:
            if cancelling():
                raise
            log.exception("listening for stop requests failed; reconnecting")
            await asyncio.sleep(1)
