"""The one ASGI application: Socket.IO at /socket.io/, the Channels consumer at /ws/chats/, Django for HTTP."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")

import django

from chatsite.env import settings_load_or_exit

settings_load_or_exit()  # a bad setting stops the server with one line naming it, not a traceback
django.setup(set_prefix=False)  # before the imports below touch models

import socketio  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.handlers.asgi import ASGIHandler  # noqa: E402
from django.urls import path  # noqa: E402

import chats.sio  # noqa: E402, F401  (registers the management protocol's handlers on the Socket.IO server)
from chats.consumers import ChatsConsumer  # noqa: E402
from chatsite.handlers import ApiHandler  # noqa: E402
from chatsite.push import sio  # noqa: E402
from messaging.maintenance import maintenance_start  # noqa: E402
from messaging.shutdown import shutdown_hook_install  # noqa: E402


class BrowserOriginValidator(OriginValidator):  # type: ignore[misc]
    """Refuse a browser socket from a foreign page; a client that sends no Origin is not a browser."""

    def valid_origin(self, parsed_origin: object) -> bool:
        return parsed_origin is None or bool(super().valid_origin(parsed_origin))


site_http = ASGIHandler()  # the admin, with Django's own handler and its full middleware stack
# Everything else (chatsite/handlers.py), and the admin's CSS and scripts, served under STATIC_URL without a
# synchronous middleware in the path of every API request (the reason this is not WhiteNoise).
api_http = ASGIStaticFilesHandler(ApiHandler())


async def django_http(scope: Any, receive: Any, send: Any) -> None:
    handler = site_http if scope["path"].startswith("/admin/") else api_http
    await handler(scope, receive, send)


channels_app = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": BrowserOriginValidator(
            URLRouter([path("ws/chats/", ChatsConsumer.as_asgi())]), settings.ALLOWED_ORIGINS
        ),
    }
)

_routes = socketio.ASGIApp(sio, other_asgi_app=channels_app, socketio_path="socket.io")


async def application(scope: dict, receive: object, send: object) -> None:
    # Daphne has no lifespan events: the process's maintenance (orphan reaping, owner keys, stop listening)
    # starts with the first connection it serves, and is a no-op on every later one.
    maintenance_start()
    shutdown_hook_install()
    await _routes(scope, receive, send)
