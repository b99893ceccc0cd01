"""The OpenAPI description of the generation, stream, catalog and usage endpoints (see chatsite/openapi.py for how
views declare it; the events they stream are in messaging/openapi_events.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from chats.openapi import MESSAGE_STATUS, UUID
from chatsite.openapi import (
    CALLER,
    CALLER_OPTIONAL,
    MESSAGE_ID,
    NOBODY,
    Schema,
    caller_errors,
    error_response,
    header,
    json_content,
    json_response,
    nullable,
    object_schema,
    query,
    ref,
)
from messaging import events
from messaging.openapi_events import (
    ANSWER_STREAM,
    COMPONENTS,
    EVENT_STREAM,
    USAGE_INFO,
    event,
    stream_error,
    stream_refusals,
)
from messaging.requests import KEY_MAX

__all__ = ["COMPONENTS", "EDIT", "MODELS", "REGENERATE", "SEND", "STOP", "STREAM", "USAGE", "test_sse"]

_ANSWER = {
    "description": "The answer's events; the stream ends after the last one (`usage_info` or `assistant_error`).",
    "headers": {
        "Cache-Control": {"schema": {"type": "string", "enum": ["no-cache"]}},
        "X-Accel-Buffering": {"schema": {"type": "string", "enum": ["no"]}},
    },
    "content": {EVENT_STREAM: {"schema": ref(ANSWER_STREAM)}},
}
_STRING: Schema = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"}  # trimmed by the server
_OPTIONAL_STRING = nullable(_STRING)
_TUNING: Schema = {
    "model": {**_OPTIONAL_STRING, "description": "A model's name; by default the chat's (or the default model)."},
    "temperature": nullable({"type": "number", "minimum": 0, "maximum": 2}),
    "max_tokens": nullable(
        {"type": "integer", "minimum": 1, "description": "Capped at the model's max_output_tokens."}
    ),
}
_CONTENT: Schema = {
    "type": "string",
    "minLength": 1,
    "maxLength": settings.MAX_MESSAGE_CHARS,
    "pattern": r"\S",
    "examples": ["Hello there"],
    "description": f"Not empty nor only whitespace (400); at most MAX_MESSAGE_CHARS ({settings.MAX_MESSAGE_CHARS}) "
    "characters (413 CONTENT_TOO_LONG). No NUL character or lone surrogate.",
}
_KEY: Schema = {
    **_OPTIONAL_STRING,
    "maxLength": KEY_MAX,
    "description": "An idempotency key: a retry with the same key and body replays the first answer's stream.",
}
_IDEMPOTENCY_KEY = header(
    "Idempotency-Key", "Same as `client_message_id` (the body field wins).", {"type": "string", "maxLength": KEY_MAX}
)


def _body(properties: Schema, required: list[str]) -> Schema:
    schema = object_schema(properties, required, "A JSON object; other fields are ignored.")
    return {"required": True, "content": json_content(schema)}


def _generation(operation_id: str, summary: str, description: str, body: Schema, *, keyed: bool = False) -> Schema:
    """A send, an edit or a regenerate: admitted by the quota middleware, answered with the answer's stream.
    ``keyed``: it takes an idempotency key."""
    responses = {
        "200": _ANSWER,
        **stream_refusals(),
        "402": stream_error("INSUFFICIENT_BALANCE"),
        "403": stream_error("MODEL_NOT_ALLOWED"),
        "404": stream_error("NOT_FOUND", "MODEL_NOT_FOUND"),
        "409": stream_error("GENERATION_IN_PROGRESS"),
        "413": stream_error("CONTENT_TOO_LONG", "PAYLOAD_TOO_LARGE (always JSON)"),
        "429": stream_error("ANON_LIMIT_REACHED"),
        **({"422": stream_error("IDEMPOTENCY_MISMATCH")} if keyed else {}),
    }
    operation = {
        "tags": ["messages"],
        "operationId": operation_id,
        "summary": summary,
        "description": description,
        "security": CALLER,
        "parameters": [_IDEMPOTENCY_KEY] if keyed else [],
        "requestBody": body,
        "responses": dict(sorted(responses.items())),
    }
    return {"post": operation}


SEND = _generation(
    "message_send",
    "Send a message and stream its answer",
    "A new chat, or the next turn of `chat_id`.",
    _body(
        {
            "content": _CONTENT,
            "chat_id": {**_OPTIONAL_STRING, "description": "A chat of the caller (404 otherwise); none: a new chat."},
            **_TUNING,
            "client_message_id": _KEY,
        },
        ["content"],
    ),
    keyed=True,
)
EDIT = _generation(
    "message_edit",
    "Edit a user message and stream the answer",
    "A new version of a user message, on a new branch.",
    _body(
        {
            "message_id": {**_STRING, "description": "A user message of the caller, any version (404 otherwise)."},
            "content": _CONTENT,
            **_TUNING,
            "client_message_id": _KEY,
        },
        ["message_id", "content"],
    ),
    keyed=True,
)
REGENERATE = _generation(
    "message_regenerate",
    "Regenerate an answer and stream the new version",
    "`message_id` names an assistant message of the caller (a user message is 400).",
    _body(
        {"message_id": {**_STRING, "description": "An answer of the caller (404 otherwise)."}, **_TUNING},
        ["message_id"],
    ),
)


def _stream_operation() -> Schema:
    return {
        "tags": ["messages"],
        "operationId": "message_stream",
        "summary": "Resume or join an answer's stream",
        "description": "Replays the answer's events after `Last-Event-ID`, then follows it live to its end. Auth: "
        "`stream_token` alone when given (a wrong or expired one is 404), else the owner's headers.",
        "security": [*CALLER, {}],
        "parameters": [
            MESSAGE_ID,
            header(
                "Last-Event-ID",
                "Where to start (wins over `last_event_id`); a non-negative integer, else 400.",
                {"type": "integer", "minimum": 0},
            ),
            query(
                "last_event_id",
                "Where to start, for a client that cannot set headers.",
                {"type": "integer", "minimum": 0},
            ),
            query(
                "stream_token",
                "The `stream_token` of `assistant_typing` or `assistant_regenerating`.",
                {"type": "string"},
            ),
        ],
        "responses": {
            "200": _ANSWER,
            "204": {"description": "The reader already has the end: an EventSource stops reconnecting."},
            **stream_refusals(),
            "404": stream_error("NOT_FOUND"),
        },
    }


STREAM: Schema = {"get": _stream_operation()}

STOP: Schema = {
    "post": {
        "tags": ["messages"],
        "operationId": "message_stop",
        "summary": "Stop an answer",
        "description": "Asks the process running the answer to stop it; the stream then ends like a completed "
        "answer, with `status: stopped`. `status` here is the message's status when the request arrived.",
        "security": CALLER,
        "parameters": [MESSAGE_ID],
        "responses": {
            "202": json_response("Stop requested.", object_schema({"message_id": UUID, "status": MESSAGE_STATUS})),
            **caller_errors(),
            "404": error_response("NOT_FOUND"),
        },
    }
}


def _test_sse_operation(method: str, most: int) -> Schema:
    counter = object_schema({"counter": {"type": "integer", "minimum": 1}, "message": {"type": "string"}})
    stream = {
        "oneOf": [
            event(events.TEST_MESSAGE, counter, "One test event."),
            event(events.TEST_COMPLETE, object_schema({"message": {"type": "string"}}), "The last event."),
        ]
    }
    responses = {
        "200": {
            "description": "`count` test events TEST_SSE_INTERVAL_MS (100 ms) apart, then `test_complete`.",
            "content": {EVENT_STREAM: {"schema": stream}},
        },
        "400": stream_error("VALIDATION_ERROR"),
        **({"413": error_response("PAYLOAD_TOO_LARGE")} if method == "post" else {}),
    }
    return {
        "tags": ["messages"],
        "operationId": f"test_sse_{method}",
        "summary": "A test event stream",
        "description": "No auth and no quota; the stream ignores Last-Event-ID.",
        "security": NOBODY,
        "parameters": [
            query("count", "How many events.", {"type": "integer", "minimum": 1, "maximum": most, "default": 5})
        ],
        "responses": responses,
    }


def test_sse(most: int) -> Schema:
    """The test stream, of at most ``most`` events."""
    return {"get": _test_sse_operation("get", most), "post": _test_sse_operation("post", most)}


_MODEL = object_schema(
    {
        "name": {"type": "string"},
        "provider": {"type": "string", "enum": ["echo", "openai"]},
        "input_price": {"type": "string", "description": "Credits per million prompt tokens."},
        "output_price": {"type": "string", "description": "Credits per million completion tokens."},
        "max_output_tokens": {"type": "integer", "minimum": 1},
        "anonymous_allowed": {"type": "boolean"},
        "default": {"type": "boolean"},
        "reasoning": {"type": "boolean"},
    }
)


def _read(operation_id: str, summary: str, description: str, security: Any, body: Schema) -> Schema:
    responses = {"200": json_response(summary, body), **caller_errors(required=security is CALLER)}
    return {
        "get": {
            "tags": ["catalog and usage"],
            "operationId": operation_id,
            "summary": summary,
            "description": description,
            "security": security,
            "responses": responses,
        }
    }


MODELS = _read(
    "models_list",
    "The models the caller may use",
    "Enabled models, ordered by name; a guest or a caller with no identity sees the `anonymous_allowed` ones.",
    CALLER_OPTIONAL,
    object_schema({"models": {"type": "array", "items": _MODEL}}),
)
USAGE = _read(
    "usage_read",
    "The caller's quota",
    "The same `usage_info` payload as the streams and the sockets send.",
    CALLER,
    ref(USAGE_INFO),
)
