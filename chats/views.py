"""The HTTP endpoints of a message's versions: list them, and choose one to show. Thin: they run the management
protocol's own handlers, so that an HTTP client gets what a socket gets and the caller's tabs the same pushes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from chats import openapi, protocol
from chats.sockets import reply_announce
from chatsite.http import allow, json_errors
from chatsite.identity import Identity, identity_from_request
from chatsite.openapi import described

Handler = Callable[[Identity, dict[str, Any]], protocol.Reply]


async def _handled(request: HttpRequest, handler: Handler, message_id: Any) -> tuple[Identity, protocol.Reply]:
    def run() -> tuple[Identity, protocol.Reply]:
        identity = identity_from_request(request)
        assert identity is not None
        return identity, handler(identity, {"message_id": str(message_id)})

    return await sync_to_async(run)()


@described(openapi.VERSIONS, openapi.COMPONENTS)
@json_errors
@allow("GET")
async def versions(request: HttpRequest, message_id: Any) -> HttpResponseBase:
    """The versions of a message, oldest first: a ``versions_list`` payload."""
    _, reply = await _handled(request, protocol.list_versions, message_id)
    return JsonResponse(reply.data)


@described(openapi.SELECT, openapi.COMPONENTS)
@csrf_exempt
@json_errors
@allow("POST")
async def select(request: HttpRequest, message_id: Any) -> HttpResponseBase:
    """Show a version with its branch: the new current branch (a ``messages_list`` payload), pushed to every
    socket of the caller with the chat."""
    identity, reply = await _handled(request, protocol.select_version, message_id)
    await reply_announce(identity, reply, origin=None)
    return JsonResponse(reply.data)
