"""This app's metrics, in the process's registry (served at ``/metrics``): the management sockets open here.

Each transport keeps its open sockets in a collection of its own and reads its child of ``SOCKETS_OPEN`` from
it when scraped, so opening and closing a socket costs nothing more.
"""

from __future__ import annotations

from prometheus_client import Gauge

SOCKETS_OPEN = Gauge(
    "chatsite_sockets_open",
    "Management sockets open in this process, by transport (socketio: /socket.io/ namespace /chats; ws: /ws/chats/).",
    ["transport"],
)
