"""The plain-JSON WebSocket transport of the management protocol, at ``/ws/chats/``.

Frames are ``{"event": NAME, "data": {...}}`` both ways. Identity comes from ``Authorization`` / ``x-anon-id``
headers (non-browser clients) or from a first ``auth`` frame (browsers, which cannot set headers) — never
from the URL. What the two transports share (rate limit, order, dispatch) is ``chats.sockets``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings

from chats import protocol
from chats.metrics import SOCKETS_OPEN
from chats.sockets import SocketConnection
from chatsite.errors import ApiError, AuthRequired, ValidationError
from chatsite.failures import FailureLog
from chatsite.identity import Identity, bearer_token
from chatsite.input import json_load
from chatsite.presence import CHANNELS

AUTH_TIMEOUT_SECONDS = 10
CLOSE_UNAUTHORIZED = 4401
CLOSE_RATE_LIMITED = 4429
LAYER_TIMEOUT_SECONDS = 2.0  # a paused Redis must not hold up an auth frame
LAYER_RETRY_MAX_SECONDS = 2.0

log = logging.getLogger(__name__)
_layer = FailureLog(log, "The channel layer (pushes to /ws/chats/ sockets)")

# The accepted sockets of this process (a set, so that a disconnect handled twice does not count twice).
_open: set[ChatsConsumer] = set()


def _frame(text: str | None) -> tuple[str, Any]:
    """The event name and data of a client frame (``ApiError`` if it is not a frame); what they hold is checked
    by ``SocketConnection.refusal``."""
    if text is None:
        raise ValidationError("Frames are JSON text; binary frames are not accepted.")
    frame = json_load(text, limit=settings.SOCKET_MAX_FRAME_BYTES, what="The frame")
    if not isinstance(frame, dict) or not isinstance(frame.get("event"), str):
        raise ValidationError("Frames are {event, data}.")
    return frame["event"], frame.get("data")


class ChatsConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    connection: SocketConnection
    _auth_timer: asyncio.TimerHandle | None = None
    _rejoining: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """channels' own loop (``AsyncConsumer.__call__``) with a channel-layer receive that outlives a Redis
        outage: channels lets the layer's error end the loop, which left the socket open but deaf."""
        self.scope, self.base_send = scope, send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self._membership = asyncio.Lock()
        with contextlib.suppress(StopConsumer):
            await await_many_dispatch([receive, self._layer_receive], self.dispatch)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # channels closes the database connections of asgiref's one shared thread before every message; this
        # consumer's database work runs on the socket workers (chats.sockets), which close their own.
        await getattr(self, get_handler_name(message))(message)

    async def connect(self) -> None:
        self.connection = SocketConnection(
            send=self._send, close=self._close_limited, origin=self.channel_name, transport=CHANNELS
        )
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self.scope["headers"]}
        await self.accept()
        _open.add(self)
        try:
            token = bearer_token(headers.get("authorization"))
            anon_id = headers.get("x-anon-id")
            if token or anon_id:
                await self._authenticate(token, anon_id)
        except ApiError as error:
            await self._refuse(error)
            return
        if self.connection.identity is None:
            loop = asyncio.get_running_loop()
            self._auth_timer = loop.call_later(AUTH_TIMEOUT_SECONDS, lambda: asyncio.ensure_future(self._expire()))

    async def _expire(self) -> None:
        if self.connection.identity is None:
            await self._refuse(AuthRequired("Send an auth frame first."))

    async def _refuse(self, error: ApiError) -> None:
        await self.connection.refuse(protocol.AUTH, error)
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def _close_limited(self) -> None:
        await self.close(code=CLOSE_RATE_LIMITED)

    async def _authenticate(self, token: object, anon_id: object) -> None:
        previous = self.connection.identity
        identity = await self.connection.identify(token=token, anon_id=anon_id)
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        await self._join(identity, leaving=previous)
        await self.connection.welcome()

    async def disconnect(self, code: int) -> None:
        _open.discard(self)
        for pending in (self._auth_timer, self._rejoining):
            if pending is not None:
                pending.cancel()
        await self.connection.leave()
        await self._join(None, leaving=self.connection.identity)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            event, data, error = *_frame(text_data), None
        except ApiError as refused:
            event, data, error = None, None, refused
        if await self.connection.refusal(event, data, error):
            if self.connection.closed:  # for abuse: end here, so that what it already sent is not even read
                await self.disconnect(CLOSE_RATE_LIMITED)
                raise StopConsumer()
            return
        if event == protocol.PING:
            await self._send(protocol.PONG, {})
        elif event == protocol.AUTH:
            try:
                data = data if isinstance(data, dict) else {}
                await self._authenticate(data.get("token") or None, data.get("anon_id") or None)
            except ApiError as refused:
                await self._refuse(refused)
        else:
            await self.connection.handle(str(event), data)

    async def identity_push(self, message: dict[str, Any]) -> None:
        if message.get("exclude") != self.channel_name:
            await self._send(message["event"], message["data"])

    async def _send(self, event: str, data: dict[str, Any]) -> None:
        await self.send_json({"event": event, "data": data})

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))

    # Group membership, kept through Redis outages.

    async def _join(self, identity: Identity | None, *, leaving: Identity | None) -> None:
        """Move this socket from ``leaving``'s group to ``identity``'s. While Redis is unreachable this retries in
        the background, so that an auth frame is answered at once."""
        try:
            async with self._membership, asyncio.timeout(LAYER_TIMEOUT_SECONDS):
                if leaving is not None and leaving != identity:
                    await self.channel_layer.group_discard(leaving.group, self.channel_name)
                if identity is not None:
                    await self.channel_layer.group_add(identity.group, self.channel_name)
        except Exception as error:
            _layer.failed(error)
            if identity is not None:
                self._rejoin_later()

    async def _layer_receive(self) -> dict[str, Any]:
        """The next channel-layer message (a push), waiting out a Redis outage; a restarted Redis has forgotten
        the groups, so this socket joins its group again."""
        failures = 0
        while True:
            try:
                return dict(await self.channel_layer.receive(self.channel_name))
            except Exception as error:
                _layer.failed(error)
                self._rejoin_later()
                failures += 1
                await asyncio.sleep(_backoff(failures))

    def _rejoin_later(self) -> None:
        if self._rejoining is None or self._rejoining.done():
            self._rejoining = asyncio.ensure_future(self._rejoin())

    async def _rejoin(self) -> None:
        failures = 0
        while True:
            failures += 1
            await asyncio.sleep(_backoff(failures))
            try:
                async with self._membership, asyncio.timeout(LAYER_TIMEOUT_SECONDS):
                    if self.connection.identity is not None:
                        await self.channel_layer.group_add(self.connection.identity.group, self.channel_name)
            except Exception as error:
                _layer.failed(error)
            else:
                _layer.succeeded()
                return


def _backoff(failures: int) -> float:
    """Seconds before the next try: growing to ``LAYER_RETRY_MAX_SECONDS``, with jitter so that the sockets of
    a process do not all knock on a Redis that just came back at once."""
    return min(LAYER_RETRY_MAX_SECONDS, 0.25 * 2 ** min(failures, 4)) * random.uniform(0.5, 1.0)


SOCKETS_OPEN.labels(transport="ws").set_function(lambda: len(_open))
