"""``python -m chatsite.serve``: the server, uvicorn on uvloop and httptools, serving the one ASGI application
(HTTP, Server-Sent Events and WebSockets) with a graceful drain.

Measured against daphne with the same application, it spends markedly less CPU per streamed token and per send
(docs/performance.md): most of the difference is the event loop itself (uvloop is written in C) and writing a
chunk to a client (daphne's Twisted transport waits for the next turn of the loop and registers the socket
for writing every time). daphne still serves the application (``daphne chatsite.asgi:application``).

On SIGTERM the worker first drains (chatsite/lifecycle.py), still answering: new sends get
``SERVER_SHUTTING_DOWN``, ``/health/ready`` 503, and running answers finish (within ``SHUTDOWN_GRACE_SECONDS``)
for the readers that follow them. Then it stops listening and closes what is left.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
from types import FrameType

import uvicorn

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

from chatsite.env import settings_load_or_exit

# A client that keeps a connection open longer than this (nginx keeps upstream connections 30 s) must not find
# it closed under it; uvicorn's default is 5 s.
KEEP_ALIVE_SECONDS = 75
# The largest WebSocket message read (a larger one closes the socket with 1009, as daphne did).
WS_MAX_BYTES = 1024 * 1024


class Server(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        from chatsite.lifecycle import drain_begin

        drain_begin()  # at once: the readiness check turns 503 while the loop winds down
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        from chatsite.lifecycle import drain

        if not self.force_exit:  # (a second signal: stop at once)
            await drain()
        await super().shutdown(sockets)


def config(host: str, port: int) -> uvicorn.Config:
    from django.conf import settings

    return uvicorn.Config(
        "chatsite.asgi:application",
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        ws="websockets",
        ws_max_size=WS_MAX_BYTES,
        lifespan="off",  # the application starts its own work with its first connection
        # The client's address is worked out by the application (TRUSTED_PROXY_COUNT), never by the server.
        proxy_headers=False,
        server_header=False,
        access_log=False,
        log_config=None,  # Django's LOGGING
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=max(math.ceil(settings.SHUTDOWN_GRACE_SECONDS), 1),
    )


def main() -> None:
    settings_load_or_exit()
    from django.conf import settings

    parser = argparse.ArgumentParser(prog="python -m chatsite.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=settings.PORT, help="port to listen on (default PORT)")
    args = parser.parse_args()
    Server(config(args.host, args.port)).run()


if __name__ == "__main__":
    main()
