"""What both socket transports share: who the caller is, dispatching an event through the protocol table, and
the side effects of a reply (stopping generations, telling the caller's other sockets)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async

from chats import protocol
from chats.hooks import generations_stop
from chatsite.errors import ApiError
from chatsite.identity import Identity, identity_resolve
from chatsite.push import push

Send = Callable[[str, dict[str, Any]], Awaitable[None]]


async def socket_identify(*, token: str | None, anon_id: str | None) -> Identity:
    """The caller a socket's credentials name (``ApiError`` if they name none, or a bad one)."""
    identity = await database_sync_to_async(identity_resolve)(token=token, anon_id=anon_id)
    assert identity is not None
    return identity


async def socket_welcome(identity: Identity, send: Send) -> None:
    """What a socket gets as soon as it knows who it is: the caller's ``usage_info``."""
    await socket_event(identity, protocol.USAGE_INFO, {}, send=send, origin="")


async def socket_event(identity: Identity, event: str, data: Any, *, send: Send, origin: str) -> protocol.Reply:
    """Handle one client event: reply to the sender, then act on the reply. ``origin`` names the sending socket
    (a Socket.IO sid or a channel name) so that a broadcast skips it."""
    try:
        reply = await database_sync_to_async(protocol.protocol_dispatch)(identity, event, data)
    except ApiError as error:
        reply = protocol.Reply(protocol.ERROR, protocol.error_payload(event, error))
    await generations_stop(reply.stop)
    await send(reply.event, reply.data)
    await reply_announce(identity, reply, origin=origin)
    return reply


async def reply_announce(identity: Identity, reply: protocol.Reply, *, origin: str | None) -> None:
    """Tell the caller's sockets of a change: the reply to the others (``origin`` has it), and the reply's
    pushes to all."""
    if reply.broadcast:
        await push(identity, reply.event, reply.data, exclude=origin)
    for event, data in reply.pushes:
        await push(identity, event, data)
