"""Live pushes to every open management socket of one identity, on both transports and in every process.

The Socket.IO server lives here, with the one publish path, so that any layer can tell a caller's tabs what
happened (a refused send, a new chat) without knowing the management protocol's handlers, which ``chats``
registers on this server. Socket.IO rooms fan out through Redis with python-socketio's Redis manager when
``REDIS_URL`` is set; the Channels consumers join a channel-layer group (channels-redis then).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio
from channels.layers import get_channel_layer
from django.conf import settings

from chatsite.identity import Identity
from chatsite.outages import redis_health

log = logging.getLogger(__name__)

NAMESPACE = "/chats"
PUSH_TYPE = "identity.push"  # the channel-layer message type; the consumer's handler is named after it
PUSH_SOON_SECONDS = 2.0

sio = socketio.AsyncServer(
    async_mode="asgi",
    cors_allowed_origins=settings.ALLOWED_ORIGINS,
    cors_credentials=True,
    client_manager=socketio.AsyncRedisManager(settings.REDIS_URL, channel=f"{settings.REDIS_PREFIX}:sio")
    if settings.REDIS_URL
    else None,
    ping_interval=25,
    ping_timeout=20,
)


async def push(identity: Identity, event: str, data: dict[str, Any], *, exclude: str | None = None) -> None:
    """Send ``event`` to all of the identity's sockets, except the one named by ``exclude`` (sid or channel)."""
    try:
        await sio.emit(event, data, room=identity.group, namespace=NAMESPACE, skip_sid=exclude)
        layer = get_channel_layer()
        if layer is not None:
            await layer.group_send(
                identity.group, {"type": PUSH_TYPE, "event": event, "data": data, "exclude": exclude}
            )
    except Exception:  # a push is a courtesy: the data stays readable through list_* and the streams
        log.exception("push of %s failed", event)


async def push_soon(identity: Identity, event: str, data: dict[str, Any]) -> None:
    """``push`` for a caller that must not wait on it (a running answer, a refusal): skipped while Redis is known
    to be down (both fan-outs go through it), and given up after ``PUSH_SOON_SECONDS`` when Redis hangs."""
    if redis_health.down:
        return
    try:
        async with asyncio.timeout(PUSH_SOON_SECONDS):
            await push(identity, event, data)
    except TimeoutError:
        log.warning("push of %s gave up after %s s", event, PUSH_SOON_SECONDS)
