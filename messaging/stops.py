"""Stop requests: any process can ask the one running a generation to stop it (published through Redis)."""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings

from chatsite.outages import REDIS_OUTAGE_ERRORS, LogThrottle, redis_call, redis_health
from chatsite.redis import cancelling, raise_if_cancelled, redis_client, redis_enabled, redis_key
from messaging.hub import hub

log = logging.getLogger(__name__)
throttled = LogThrottle(log)

STOP_CHANNEL = "stop"
LISTEN_SECONDS = 1.0


async def stop_request(message_id: str) -> None:
    """Ask whichever process runs this generation to stop it. Raises ``ServiceUnavailable`` when it runs
    elsewhere and Redis is unreachable (the request cannot reach that process)."""
    if not hub.stop(message_id) and redis_enabled():
        async with redis_call("publishing a stop request"):
            await redis_client().publish(redis_key(STOP_CHANNEL), message_id)


async def stops_listen() -> None:
    """Relay stop requests published by any process to the generations running here; reconnect on errors
    (while Redis is unreachable, as often as the probe looks at it)."""
    while True:
        try:
            async with redis_client().pubsub() as pubsub:
                await pubsub.subscribe(redis_key(STOP_CHANNEL))
                while True:
                    # Polled rather than ``listen()``: a cancellation lost in a blocking read would otherwise
                    # keep this task, and the event loop closing under it, alive for ever.
                    async with asyncio.timeout(LISTEN_SECONDS + settings.REDIS_TIMEOUT_SECONDS):
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=LISTEN_SECONDS)
                    raise_if_cancelled()
                    if message is not None and message.get("type") == "message":
                        hub.stop(message["data"].decode())
        except Exception as error:
            if cancelling():
                raise
            if isinstance(error, REDIS_OUTAGE_ERRORS):
                redis_health.failed(error, "listening for stop requests")
            else:
                throttled.warning("listen", "listening for stop requests failed (%r); reconnecting", error)
            await asyncio.sleep(settings.HEALTH_PROBE_SECONDS)
