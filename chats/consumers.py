"""The plain-JSON WebSocket transport of the management protocol, at ``/ws/chats/``.

Frames are ``{"event": NAME, "data": {...}}`` both ways. Identity comes from ``Authorization`` / ``x-anon-id``
headers (non-browser clients) or from a first ``auth`` frame (browsers, which cannot set headers) — never
from the URL.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from chats import protocol
from chats.sockets import socket_event, socket_identify, socket_welcome
from chatsite.errors import ApiError, AuthRequired, ValidationError
from chatsite.identity import Identity, bearer_token

AUTH_TIMEOUT_SECONDS = 10
CLOSE_UNAUTHORIZED = 4401


class ChatsConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    identity: Identity | None = None
    _auth_timer: asyncio.TimerHandle | None = None

    async def connect(self) -> None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self.scope["headers"]}
        await self.accept()
        try:
            token = bearer_token(headers.get("authorization"))
            anon_id = headers.get("x-anon-id")
            if token or anon_id:
                await self._authenticate(token, anon_id)
        except ApiError as error:
            await self._refuse(error)
            return
        if self.identity is None:
            loop = asyncio.get_running_loop()
            self._auth_timer = loop.call_later(AUTH_TIMEOUT_SECONDS, lambda: asyncio.ensure_future(self._expire()))

    async def _expire(self) -> None:
        if self.identity is None:
            await self._refuse(AuthRequired("Send an auth frame first."))

    async def _refuse(self, error: ApiError) -> None:
        await self._send(protocol.ERROR, protocol.error_payload(protocol.AUTH, error))
        await self.close(code=CLOSE_UNAUTHORIZED)

    async def _authenticate(self, token: str | None, anon_id: str | None) -> None:
        identity = await socket_identify(token=token, anon_id=anon_id)
        if self.identity is not None and self.identity != identity:
            await self.channel_layer.group_discard(self.identity.group, self.channel_name)
        self.identity = identity
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        await self.channel_layer.group_add(identity.group, self.channel_name)
        await socket_welcome(identity, self._send)

    async def disconnect(self, code: int) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        if self.identity is not None:
            await self.channel_layer.group_discard(self.identity.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or not isinstance(content.get("event"), str):
            await self._send(protocol.ERROR, protocol.error_payload(None, ValidationError("Frames are {event, data}.")))
            return
        event, data = content["event"], content.get("data")
        if event == protocol.PING:
            await self._send(protocol.PONG, {})
        elif event == protocol.AUTH:
            try:
                data = data if isinstance(data, dict) else {}
                await self._authenticate(data.get("token") or None, data.get("anon_id") or None)
            except ApiError as error:
                await self._refuse(error)
        elif self.identity is None:
            await self._send(protocol.ERROR, protocol.error_payload(event, AuthRequired("Send an auth frame first.")))
        else:
            await socket_event(self.identity, event, data, send=self._send, origin=self.channel_name)

    async def decode_json(self, text_data: str) -> Any:
        try:
            return await super().decode_json(text_data)
        except ValueError:
            return None

    async def identity_push(self, message: dict[str, Any]) -> None:
        if message.get("exclude") != self.channel_name:
            await self._send(message["event"], message["data"])

    async def _send(self, event: str, data: dict[str, Any]) -> None:
        await self.send_json({"event": event, "data": data})
