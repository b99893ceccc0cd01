"""Live pushes to every open management socket of one identity, on both transports and in every process.

The Socket.IO server lives here, with the one publish path, so that any layer can tell a caller's tabs what
happened (a refused send, a new chat) without knowing the management protocol's handlers, which ``chats``
registers on this server. Socket.IO rooms fan out through Redis with python-socketio's Redis manager when
``REDIS_URL`` is set; the Channels consumers join a channel-layer group (channels-redis then). Nothing is
published on a transport where the identity has no socket open (``chatsite.presence``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import socketio
from channels.layers import get_channel_layer
from django.conf import settings
from socketio import packet

from chatsite.errors import ApiError, ValidationError
from chatsite.failures import FailureLog
from chatsite.identity import Identity
from chatsite.input import json_load
from chatsite.outages import redis_health
from chatsite.presence import CHANNELS, SOCKET_IO, presence_transports

log = logging.getLogger(__name__)

NAMESPACE = "/chats"
PUSH_TYPE = "identity.push"  # the channel-layer message type; the consumer's handler is named after it
PUSH_TIMEOUT_SECONDS = 2.0  # a paused Redis must not hold up the reply or the answer that pushes
REDIS_RETRY_SECONDS = 0.5
MESSAGE_MAX_BYTES = 1024 * 1024  # daphne closes a larger WebSocket message (1009); Engine.IO, a larger poll
REFUSED = "\x00refused"  # the event name of a refused packet; no client can send it (a NUL is refused)
# Event names python-socketio would route to a handler other than the catch-all, with the client's arguments.
NOT_EVENTS = frozenset({"connect", "disconnect", "*"})

_publishing = FailureLog(log, "Publishing Socket.IO pushes to Redis")
_listening = FailureLog(log, "Receiving Socket.IO pushes from Redis")
_pushes = FailureLog(log, "Pushing to sockets")


class _SocketJson:
    """The JSON of Socket.IO packets, with chatsite.input's bounds (python-socketio calls these two). What the
    data holds is checked by the handlers (``chats.sockets``), which know the event it came with."""

    dumps = staticmethod(json.dumps)

    @staticmethod
    def loads(text: str) -> Any:
        return json_load(text, limit=settings.SOCKET_MAX_FRAME_BYTES, what="The packet")


class CheckedPacket(packet.Packet):  # type: ignore[misc]
    """A Socket.IO packet from a client whose payload passed chatsite.input. One that did not becomes the
    event ``[REFUSED, error]`` (or, for a handshake, the auth ``[REFUSED, error]``), which the handlers answer
    with the error's code; otherwise python-socketio would only log an exception, the client's acknowledgement
    would never come, and an event named ``connect`` would reach the connect handler with the client's data."""

    json = _SocketJson
    packet_type: int
    namespace: str | None
    data: Any

    def decode(self, encoded_packet: Any) -> int:
        try:
            attachments = int(super().decode(encoded_packet) or 0)
            error = self._refusal()
        except ApiError as refused:
            error = refused
        except (ValueError, TypeError, IndexError):
            error = ValidationError("This is not a Socket.IO packet.")
        if error is None:
            return attachments
        if self.packet_type != packet.CONNECT:
            self.packet_type, self.namespace = packet.EVENT, self.namespace or NAMESPACE
        self.data = [REFUSED, error]
        return 0

    def _refusal(self) -> ApiError | None:
        if self.packet_type in (packet.CONNECT, packet.DISCONNECT):
            return None
        if self.packet_type != packet.EVENT:  # the server never asks a client for an acknowledgement
            return ValidationError("Clients send events of JSON, without binary attachments.")
        if not (isinstance(self.data, list) and self.data and isinstance(self.data[0], str)):
            return ValidationError("An event is [name, data].")
        if self.data[0] in NOT_EVENTS:
            return ValidationError(f"{self.data[0]!r} is not a client event.")
        return None


class ResilientRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """python-socketio's Redis fan-out, which after a Redis outage resubscribes every ``REDIS_RETRY_SECONDS``
    (the library backs off up to a minute, so a 10 s blip cost about 20 s of lost pushes), and logs the outage
    once per interval instead of once per attempt."""

    redis: Any

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        # Messages between this server's own processes are not a client's input, and a push (a long message)
        # may be larger than a client's packet may be: the manager must not take CheckedPacket's bounded JSON.
        self.json = json

    async def _publish(self, data: Any) -> None:
        """Tell the other processes (the sockets of this one already have it). Never raises: a push is a
        courtesy, and the data stays readable through list_* and the streams."""
        try:
            async with asyncio.timeout(PUSH_TIMEOUT_SECONDS):
                if self.redis is None:
                    self._redis_connect()
                await self.redis.publish(self.channel, self.json.dumps(data))
        except TimeoutError as error:  # a paused Redis: the client goes on once it answers again
            _publishing.failed(error)
        except Exception as error:
            self.redis = None  # a new client next time (the old one may belong to a closed event loop)
            _publishing.failed(error)
        else:
            _publishing.succeeded()

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        while True:
            if self.redis is None:
                self._redis_connect()
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                _listening.succeeded()
                async for message in pubsub.listen():
                    yield message
            except Exception as error:  # Redis is down or restarting: try again soon
                _listening.failed(error)
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            await asyncio.sleep(REDIS_RETRY_SECONDS)


sio = socketio.AsyncServer(
    async_mode="asgi",
    cors_allowed_origins=settings.ALLOWED_ORIGINS,
    cors_credentials=True,
    client_manager=ResilientRedisManager(settings.REDIS_URL, channel=f"{settings.REDIS_PREFIX}:sio")
    if settings.REDIS_URL
    else None,
    serializer=CheckedPacket,
    # A socket's events are handled one after the other as they are read, not each in a task of its own: a flood
    # on one socket then cannot put thousands of tasks ahead of every other socket's next event.
    async_handlers=False,
    max_http_buffer_size=MESSAGE_MAX_BYTES,
    ping_interval=25,
    ping_timeout=20,
)


async def push(identity: Identity, event: str, data: dict[str, Any], *, exclude: str | None = None) -> None:
    """Send ``event`` to all of the identity's sockets, except the one named by ``exclude`` (sid or channel).
    A transport on which the identity has no socket open in any process is skipped (``chatsite.presence``)."""
    try:
        transports = await presence_transports(identity.group)
        if SOCKET_IO in transports:
            await sio.emit(event, data, room=identity.group, namespace=NAMESPACE, skip_sid=exclude)
        layer = get_channel_layer()
        if layer is not None and CHANNELS in transports:
            message = {"type": PUSH_TYPE, "event": event, "data": data, "exclude": exclude}
            async with asyncio.timeout(PUSH_TIMEOUT_SECONDS):
                await layer.group_send(identity.group, message)
    except Exception as error:  # a push is a courtesy: the data stays readable through list_* and the streams
        _pushes.failed(error)
    else:
        _pushes.succeeded()


async def push_soon(identity: Identity, event: str, data: dict[str, Any]) -> None:
    """``push`` for a caller that must not wait on it (a running answer, a refusal): skipped while Redis is known
    to be down (both fan-outs go through it); ``push`` itself gives up after ``PUSH_TIMEOUT_SECONDS``."""
    if not redis_health.down:
        await push(identity, event, data)
