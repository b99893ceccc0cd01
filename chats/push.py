"""Live pushes to every open management socket of one identity, on both transports and in every process.

This is the one publish path: Socket.IO rooms (fanned out through Redis by python-socketio's Redis manager when
``REDIS_URL`` is set) and the channel layer group the Channels consumers join (channels-redis then).
"""

from __future__ import annotations

import logging
from typing import Any

from channels.layers import get_channel_layer

from chatsite.identity import Identity

log = logging.getLogger(__name__)

NAMESPACE = "/chats"


async def notify(identity: Identity, event: str, data: dict[str, Any], *, exclude: str | None = None) -> None:
    """Send ``event`` to all of the identity's sockets, except the one named by ``exclude`` (sid or channel)."""
    from chats.sio import sio

    try:
        await sio.emit(event, data, room=identity.group, namespace=NAMESPACE, skip_sid=exclude)
        layer = get_channel_layer()
        if layer is not None:
            await layer.group_send(
                identity.group, {"type": "identity.push", "event": event, "data": data, "exclude": exclude}
            )
    except Exception:  # a push is a courtesy: the data stays readable through list_* and the streams
        log.exception("push of %s failed", event)
