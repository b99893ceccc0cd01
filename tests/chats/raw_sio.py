"""A Socket.IO client that speaks raw packets (Engine.IO 4 over a WebSocket) to ``chatsite.asgi.application`` in
this process: what a hostile client can send, which ``socket.io-client`` never would."""

from __future__ import annotations

import json
from typing import Any

from channels.testing import WebsocketCommunicator

from chatsite.asgi import application

NAMESPACE = "/chats"


class RawSocketIO:
    def __init__(self) -> None:
        self.communicator = WebsocketCommunicator(
            application,
            "/socket.io/?EIO=4&transport=websocket",
            headers=[(b"upgrade", b"websocket"), (b"connection", b"Upgrade")],
        )
        self.acks = 0

    async def open(self, auth: Any = None, *, raw_auth: str | None = None) -> list[list[Any]]:
        """Open the Engine.IO session and the ``/chats`` namespace; the packets that came until the namespace's
        answer (``connect`` or ``connect_error``, the last one), decoded."""
        connected, _ = await self.communicator.connect()
        assert connected
        assert (await self.receive()).startswith("0")  # the Engine.IO handshake
        payload = raw_auth if raw_auth is not None else json.dumps(auth if auth is not None else {})
        await self.communicator.send_to(text_data=f"40{NAMESPACE},{payload}")
        packets = [self.decode(await self.receive())]
        while packets[-1][0] not in {"connect", "connect_error"}:
            packets.append(self.decode(await self.receive()))
        return packets

    async def receive(self, timeout: float = 5) -> str:
        while True:
            output = await self.communicator.receive_output(timeout=timeout)
            assert output["type"] == "websocket.send", output
            if output["text"] != "2":  # an Engine.IO ping
                return str(output["text"])
            await self.communicator.send_to(text_data="3")

    async def event(self, event: str, data: Any) -> tuple[Any, Any]:
        """Emit with an acknowledgement: the emitted reply and the acknowledgement, decoded."""
        return await self.packet(json.dumps([event, data]))

    async def packet(self, body: str, prefix: str = "42") -> tuple[Any, Any]:
        """Send ``<prefix>/chats,<ack id><body>``; the emitted reply and the acknowledgement, decoded."""
        self.acks += 1
        await self.communicator.send_to(text_data=f"{prefix}{NAMESPACE},{self.acks}{body}")
        emitted = self.decode(await self.receive())
        ack = self.decode(await self.receive())
        assert ack[0] == "ack", ack
        return emitted, ack[1]

    @staticmethod
    def decode(text: str) -> list[Any]:
        """``["event", name, data]``, ``["ack", reply]``, ``["connect", data]`` or ``["connect_error", data]``."""
        kind, rest = text[:2], text[2 + len(NAMESPACE) + 1 :]
        if kind == "42":
            return ["event", *json.loads(rest)]
        if kind == "43":
            return ["ack", json.loads(rest.lstrip("0123456789"))[0]]
        if kind in {"40", "44"}:
            return ["connect" if kind == "40" else "connect_error", json.loads(rest)]
        raise AssertionError(f"unexpected packet {text!r}")

    async def close(self) -> None:
        await self.communicator.disconnect()
