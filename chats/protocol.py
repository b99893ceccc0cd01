"""The management protocol, as data: every event name (replies and pushes), the payloads pushed by other
layers, and the table from client event name to handler that both transports dispatch through.

A handler is synchronous service/selector code (run off the event loop by chats.sockets). It returns the
event to send back and, for changes, whether the caller's other sockets must hear of it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chats.models import Chat, Message
from chats.search import SEARCH_LIMIT_MAX, chat_search_for_owner
from chats.selectors import (
    chat_get_for_owner,
    chat_list_for_owner,
    chat_payload,
    message_get_for_owner,
    message_list_for_chat,
    message_version_list,
)
from chats.services import chat_delete, chat_rename, message_version_select
from chatsite.errors import ApiError, ValidationError
from chatsite.identity import Identity
from usage.selectors import usage_info

# Server → client events: replies, then pushes (to every socket of the identity).
CHATS_LIST = "chats_list"
MESSAGES_LIST = "messages_list"
VERSIONS_LIST = "versions_list"
CHATS_FOUND = "chats_found"
USAGE_INFO = "usage_info"
CHAT_CREATED = "chat_created"
CHAT_UPDATED = "chat_updated"
CHAT_DELETED = "chat_deleted"
MESSAGE_CREATED = "message_created"
GENERATION_STARTED = "generation_started"
ASSISTANT_ERROR = "assistant_error"
ERROR = "error"
PONG = "pong"
PING = "ping"  # client → server on /ws/chats/ (Socket.IO has its own heartbeat)
AUTH = "auth"  # client → server on /ws/chats/: the credentials a browser cannot put in headers


class UnknownEvent(ApiError):
    code, status, default_message = "UNKNOWN_EVENT", 400, "Unknown event."


@dataclass(frozen=True)
class Reply:
    event: str
    data: dict[str, Any]
    broadcast: bool = False  # also push to the caller's other sockets
    stop: list[str] = field(default_factory=list)  # generations to stop (a deleted chat's answer)
    pushes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # to every socket, the caller's too


def _int(data: dict[str, Any], name: str, default: int, maximum: int, minimum: int = 0) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValidationError(f"{name} must be an integer from {minimum} to {maximum}.")
    return value


def list_chats(identity: Identity, data: dict[str, Any]) -> Reply:
    page, limit = _int(data, "page", 0, 10**6), _int(data, "limit", 20, 100, 1)
    result = chat_list_for_owner(identity=identity, page=page, limit=limit)
    return Reply(CHATS_LIST, {"chats": result.items, "page": page, "limit": limit, "total": result.total})


MESSAGES_LIMIT = 50  # the default page of list_messages, and what a push of a changed branch carries


def messages_listed(chat: Chat, page: int = 0, limit: int = MESSAGES_LIMIT) -> dict[str, Any]:
    """The payload of ``messages_list``: a page of the chat's current branch."""
    result = message_list_for_chat(chat=chat, page=page, limit=limit)
    return {"chat_id": str(chat.pk), "messages": result.items, "page": page, "limit": limit, "total": result.total}


def list_messages(identity: Identity, data: dict[str, Any]) -> Reply:
    page, limit = _int(data, "page", 0, 10**6), _int(data, "limit", MESSAGES_LIMIT, 200, 1)
    chat = chat_get_for_owner(identity=identity, chat_id=data.get("chat_id"))
    return Reply(MESSAGES_LIST, messages_listed(chat, page, limit))


def list_versions(identity: Identity, data: dict[str, Any]) -> Reply:
    message = message_get_for_owner(identity=identity, message_id=data.get("message_id"))
    versions = message_version_list(message)
    current = next((version for version in versions if version.selected), message)
    payload = {
        "message_id": str(message.pk),
        "versions": [version.to_payload(versions=len(versions)) for version in versions],
        "current": str(current.pk),
    }
    return Reply(VERSIONS_LIST, payload)


def select_version(identity: Identity, data: dict[str, Any]) -> Reply:
    """Show a version with its branch: the caller gets the branch, and every tab the chat and the branch."""
    message = message_version_select(identity=identity, message_id=data.get("message_id"))
    branch = messages_listed(message.chat)
    return Reply(
        MESSAGES_LIST, branch, broadcast=True, pushes=[(CHAT_UPDATED, chat_pushed(chat_payload(message.chat_id)))]
    )


def search_chats(identity: Identity, data: dict[str, Any]) -> Reply:
    limit = _int(data, "limit", 20, SEARCH_LIMIT_MAX, 1)
    query, chats = chat_search_for_owner(identity=identity, q=data.get("q"), limit=limit)
    return Reply(CHATS_FOUND, {"q": query, "chats": chats})


def get_usage(identity: Identity, data: dict[str, Any]) -> Reply:
    return Reply(USAGE_INFO, usage_info(identity=identity))


def rename_chat(identity: Identity, data: dict[str, Any]) -> Reply:
    chat = chat_rename(identity=identity, chat_id=data.get("chat_id"), title=data.get("title"))
    return Reply(CHAT_UPDATED, chat_pushed(chat), broadcast=True)


def delete_chat(identity: Identity, data: dict[str, Any]) -> Reply:
    chat = chat_get_for_owner(identity=identity, chat_id=data.get("chat_id"))
    running = [str(pk) for pk in chat.messages.filter(status=Message.Status.STREAMING).values_list("pk", flat=True)]
    return Reply(CHAT_DELETED, chat_delete(identity=identity, chat_id=chat.pk), broadcast=True, stop=running)


HANDLERS: dict[str, Callable[[Identity, dict[str, Any]], Reply]] = {
    "list_chats": list_chats,
    "list_messages": list_messages,
    "list_versions": list_versions,
    "select_version": select_version,
    "search_chats": search_chats,
    "usage_info": get_usage,
    "rename_chat": rename_chat,
    "delete_chat": delete_chat,
}


def protocol_dispatch(identity: Identity, event: str, data: Any) -> Reply:
    handler = HANDLERS.get(event)
    if handler is None:
        raise UnknownEvent(f"Unknown event {event!r}.")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError("The event's data must be a JSON object.")
    return handler(identity, data)


def error_payload(event: str | None, error: ApiError) -> dict[str, Any]:
    """The ``error`` reply to a client event."""
    return {"event": event, **error.payload()}


def chat_pushed(chat: dict[str, Any]) -> dict[str, Any]:
    """The payload of ``chat_created`` and ``chat_updated``."""
    return {"chat": chat}


def message_pushed(chat_id: str, message: dict[str, Any]) -> dict[str, Any]:
    """The payload of ``message_created``."""
    return {"chat_id": chat_id, "message": message}


def generation_started(chat_id: str, message_id: str, stream_token: str) -> dict[str, Any]:
    """The payload of ``generation_started``: enough for any tab to follow the answer with GET …/stream."""
    return {"chat_id": chat_id, "message_id": message_id, "stream_token": stream_token}
