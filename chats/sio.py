"""The Socket.IO transport of the management protocol: namespace ``/chats``, as the seed's clients expect."""

from __future__ import annotations

from typing import Any

import socketio

from chats.sockets import Send, socket_event, socket_identify, socket_welcome
from chatsite.errors import ApiError
from chatsite.identity import Identity, bearer_token
from chatsite.push import NAMESPACE, sio


def _credentials(environ: dict[str, Any], auth: Any) -> tuple[str | None, str | None]:
    auth = auth if isinstance(auth, dict) else {}
    token = auth.get("token") or bearer_token(environ.get("HTTP_AUTHORIZATION"))
    anon_id = auth.get("anon_id") or environ.get("HTTP_X_ANON_ID")
    return (str(token) if token else None), (str(anon_id) if anon_id else None)


def _sender(sid: str) -> Send:
    async def send(event: str, data: dict[str, Any]) -> None:
        await sio.emit(event, data, to=sid, namespace=NAMESPACE)

    return send


@sio.on("connect", namespace=NAMESPACE)
async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
    try:
        token, anon_id = _credentials(environ, auth)
        identity = await socket_identify(token=token, anon_id=anon_id)
    except ApiError as error:
        raise socketio.exceptions.ConnectionRefusedError(error.message, error.payload()) from None
    await sio.save_session(sid, {"identity": identity}, namespace=NAMESPACE)
    await sio.enter_room(sid, identity.group, namespace=NAMESPACE)
    await socket_welcome(identity, _sender(sid))


@sio.on("*", namespace=NAMESPACE)
async def any_event(event: str, sid: str, data: Any = None) -> dict[str, Any]:
    """Every client event goes through the protocol table; the reply is emitted and also acknowledged."""
    session = await sio.get_session(sid, namespace=NAMESPACE)
    identity: Identity = session["identity"]
    reply = await socket_event(identity, event, data, send=_sender(sid), origin=sid)
    return {"event": reply.event, "data": reply.data}
