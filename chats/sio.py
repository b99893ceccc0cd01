"""The Socket.IO transport of the management protocol: namespace ``/chats``, as the seed's clients expect. What
the two transports share (rate limit, order, dispatch) is ``chats.sockets``."""

from __future__ import annotations

from typing import Any

import socketio

from chats.metrics import SOCKETS_OPEN
from chats.sockets import Close, Send, SocketConnection
from chatsite.errors import ApiError
from chatsite.identity import bearer_token
from chatsite.input import json_check
from chatsite.presence import SOCKET_IO
from chatsite.push import NAMESPACE, REFUSED, sio

# The open sockets of this process by sid (a socket lives in one process; nothing here is shared state).
_connections: dict[str, SocketConnection] = {}
SOCKETS_OPEN.labels(transport="socketio").set_function(lambda: len(_connections))


def _credentials(environ: dict[str, Any], auth: Any) -> tuple[object, object]:
    if isinstance(auth, list) and auth[:1] == [REFUSED]:
        raise auth[1]  # the handshake's payload was refused by chatsite.input (chatsite.push.CheckedPacket)
    auth = json_check(auth) if isinstance(auth, dict) else {}
    token = auth.get("token") or bearer_token(environ.get("HTTP_AUTHORIZATION"))
    anon_id = auth.get("anon_id") or environ.get("HTTP_X_ANON_ID")
    return token or None, anon_id or None


def _sender(sid: str) -> Send:
    async def send(event: str, data: dict[str, Any]) -> None:
        # ignore_queue: the socket is in this process, so the reply need not go through Redis.
        await sio.emit(event, data, to=sid, namespace=NAMESPACE, ignore_queue=True)

    return send


def _closer(sid: str) -> Close:
    async def close() -> None:
        eio_sid = sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        await sio.disconnect(sid, namespace=NAMESPACE)  # the client hears why: "io server disconnect"
        if eio_sid is not None:  # and the connection ends, so that what it sends next is not even read
            await sio.eio.disconnect(eio_sid)

    return close


@sio.on("connect", namespace=NAMESPACE)
async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    connection = SocketConnection(send=_sender(sid), close=_closer(sid), origin=sid, transport=SOCKET_IO)
    _connections[sid] = connection  # before it identifies: a disconnect meanwhile must find it (to leave)
    try:
        token, anon_id = _credentials(environ, auth)
        identity = await connection.identify(token=token, anon_id=anon_id)
    except ApiError as error:
        _connections.pop(sid, None)
        raise socketio.exceptions.ConnectionRefusedError(error.message, error.payload()) from None
    await sio.enter_room(sid, identity.group, namespace=NAMESPACE)
    await connection.welcome()


@sio.on("disconnect", namespace=NAMESPACE)
async def disconnect(sid: str, reason: str | None = None) -> None:
    connection = _connections.pop(sid, None)
    if connection is not None:
        await connection.leave()


@sio.on("*", namespace=NAMESPACE)
async def any_event(event: str, sid: str, data: Any = None, *_: Any) -> dict[str, Any] | None:
    """Every client event goes through the protocol table; the reply is emitted and also acknowledged."""
    connection = _connections.get(sid)
    if connection is None:
        return None
    if event == REFUSED:  # the packet was refused by chatsite.input; data is the error
        reply = await connection.refusal(None, None, data)
    else:
        reply = await connection.refusal(event, data) or await connection.handle(event, data)
    return {"event": reply.event, "data": reply.data} if reply else None
