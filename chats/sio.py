"""The Socket.IO transport of the management protocol: namespace ``/chats``, as the seed's clients expect."""

from __future__ import annotations

from typing import Any

import socketio
from channels.db import database_sync_to_async
from django.conf import settings

from chats import protocol
from chats.push import NAMESPACE, notify
from chatsite.errors import ApiError
from chatsite.identity import Identity, bearer_token, identity_resolve
from messaging.control import stop_request

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


def _credentials(environ: dict[str, Any], auth: Any) -> tuple[str | None, str | None]:
    auth = auth if isinstance(auth, dict) else {}
    token = auth.get("token") or bearer_token(environ.get("HTTP_AUTHORIZATION"))
    anon_id = auth.get("anon_id") or environ.get("HTTP_X_ANON_ID")
    return (str(token) if token else None), (str(anon_id) if anon_id else None)


@sio.on("connect", namespace=NAMESPACE)
async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    try:
        token, anon_id = _credentials(environ, auth)
        identity = await database_sync_to_async(identity_resolve)(token=token, anon_id=anon_id)
    except ApiError as error:
        raise socketio.exceptions.ConnectionRefusedError(error.message, error.payload()) from None
    assert identity is not None
    await sio.save_session(sid, {"identity": identity}, namespace=NAMESPACE)
    await sio.enter_room(sid, identity.group, namespace=NAMESPACE)
    reply = await database_sync_to_async(protocol.protocol_dispatch)(identity, "usage_info", {})
    await sio.emit(reply.event, reply.data, to=sid, namespace=NAMESPACE)


@sio.on("*", namespace=NAMESPACE)
async def any_event(event: str, sid: str, data: Any = None) -> dict[str, Any]:
    """Every client event goes through the protocol table; the reply is emitted and also acknowledged."""
    session = await sio.get_session(sid, namespace=NAMESPACE)
    identity: Identity = session["identity"]
    try:
        reply = await database_sync_to_async(protocol.protocol_dispatch)(identity, event, data)
    except ApiError as error:
        payload = protocol.error_payload(event, error)
        await sio.emit(protocol.ERROR, payload, to=sid, namespace=NAMESPACE)
        return {"event": protocol.ERROR, "data": payload}
    for message_id in reply.stop:
        await stop_request(message_id)
    await sio.emit(reply.event, reply.data, to=sid, namespace=NAMESPACE)
    if reply.broadcast:
        await notify(identity, reply.event, reply.data, exclude=sid)
    return {"event": reply.event, "data": reply.data}
