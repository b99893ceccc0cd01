"""The OpenAPI description of the versions endpoints, and of the Message object every transport carries
(see chatsite/openapi.py for how views declare it)."""

from __future__ import annotations

from chatsite.openapi import CALLER, MESSAGE_ID, Schema, caller_errors, error_response, json_response, nullable, ref

UUID: Schema = {"type": "string", "format": "uuid"}
DATE_TIME: Schema = {"type": "string", "format": "date-time"}
CREDITS: Schema = {"type": "string", "pattern": r"^-?\d+\.\d{6}$", "description": "Credits, a decimal with 6 places."}
MESSAGE_STATUS: Schema = {"type": "string", "enum": ["streaming", "complete", "stopped", "failed"]}

MESSAGE = "Message"
DELETED_MESSAGE = "DeletedMessage"
COMPONENTS: dict[str, Schema] = {
    MESSAGE: {
        "type": "object",
        "description": "A stored message (Message.to_payload), the same on every transport.",
        "properties": {
            "id": UUID,
            "chat_id": UUID,
            "role": {"type": "string", "enum": ["user", "assistant"]},
            "content": {"type": "string", "description": '`""` while an answer streams.'},
            "reasoning": {"type": "string"},
            "status": MESSAGE_STATUS,
            "model": {"type": "string"},
            "created_at": DATE_TIME,
            "parent_id": nullable(UUID),
            "reply_to_id": nullable(UUID),
            "versions": {"type": "integer", "minimum": 1},
            "version": {"type": "integer", "minimum": 1},
            "prompt_tokens": {"type": "integer", "minimum": 0},
            "completion_tokens": {"type": "integer", "minimum": 0},
            "cost": CREDITS,
            "error_code": {"type": "string", "description": 'The code of a `failed` answer\'s error, else `""`.'},
        },
        "required": [
            "id",
            "chat_id",
            "role",
            "content",
            "reasoning",
            "status",
            "model",
            "created_at",
            "parent_id",
            "reply_to_id",
            "versions",
            "version",
            "prompt_tokens",
            "completion_tokens",
            "cost",
            "error_code",
        ],
    },
    DELETED_MESSAGE: {
        "type": "object",
        "description": "An answer whose chat was deleted while it ran: nothing was stored.",
        "properties": {
            "id": UUID,
            "role": {"type": "string", "enum": ["assistant"]},
            "content": {"type": "string"},
            "status": MESSAGE_STATUS,
            "deleted": {"const": True},
        },
        "required": ["id", "role", "content", "status", "deleted"],
    },
}

_VERSIONS_LIST: Schema = {
    "type": "object",
    "properties": {
        "message_id": UUID,
        "versions": {"type": "array", "items": ref(MESSAGE), "minItems": 1},
        "current": {**UUID, "description": "The version chosen for this turn."},
    },
    "required": ["message_id", "versions", "current"],
}
_MESSAGES_LIST: Schema = {
    "type": "object",
    "description": "A `messages_list` payload: page 0 (50 messages) of the chat's branch shown.",
    "properties": {
        "chat_id": UUID,
        "messages": {"type": "array", "items": ref(MESSAGE)},
        "page": {"type": "integer", "minimum": 0},
        "limit": {"type": "integer", "minimum": 1},
        "total": {"type": "integer", "minimum": 0},
    },
    "required": ["chat_id", "messages", "page", "limit", "total"],
}
_NOT_FOUND = {"404": error_response("NOT_FOUND (no such message of the caller)")}

VERSIONS: Schema = {
    "get": {
        "tags": ["messages"],
        "operationId": "message_versions",
        "summary": "List the versions of a message",
        "description": "The versions of a user message or an answer, oldest first (the socket's `list_versions`).",
        "security": CALLER,
        "parameters": [MESSAGE_ID],
        "responses": {"200": json_response("The versions.", _VERSIONS_LIST), **caller_errors(), **_NOT_FOUND},
    }
}
SELECT: Schema = {
    "post": {
        "tags": ["messages"],
        "operationId": "message_select",
        "summary": "Show a version with its branch",
        "description": "The version becomes its turn's chosen one (the socket's `select_version`). Every socket of "
        "the caller gets `messages_list` and `chat_updated`.",
        "security": CALLER,
        "parameters": [MESSAGE_ID],
        "responses": {
            "200": json_response("The chat's new branch.", _MESSAGES_LIST),
            **caller_errors(),
            **_NOT_FOUND,
            "409": error_response("GENERATION_IN_PROGRESS (the chat is answering)"),
        },
    }
}
