"""The server-sent events of the streaming endpoints as OpenAPI schemas (their operations are in
messaging/openapi.py).

A ``text/event-stream`` body is described one event at a time, as OpenAPI 3.2's ``itemSchema`` does (and, before
3.2, the ``schema`` of an event stream by convention, which Swagger UI and schemathesis follow): each event is
``{event, id, retry, data}`` with ``data`` a string of JSON whose ``contentSchema`` is the event's payload. The event
names and payloads are those of messaging/events.py.
"""

from __future__ import annotations

from chats.openapi import COMPONENTS as CHATS_COMPONENTS
from chats.openapi import CREDITS, DELETED_MESSAGE, MESSAGE, UUID
from chatsite.openapi import ERROR, Schema, json_content, nullable, object_schema, ref
from messaging import events

EVENT_STREAM = "text/event-stream"
USAGE_INFO = "UsageInfo"
ANSWER_STREAM = "AnswerEventStream"
ERROR_EVENT = "ErrorEventStream"


def event(name: str, data: Schema, description: str) -> Schema:
    """One event of a stream: its name, its id (absent only on the middle pages of a long text replayed from the
    database), the reconnection delay, and its data: one line of JSON."""
    return object_schema(
        {
            "event": {"const": name},
            "id": {"type": "string", "pattern": "^[1-9][0-9]*$"},
            "retry": {"type": "integer", "minimum": 0},
            "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": data},
        },
        ["event", "data"],
        description,
    )


_IDS = {"chat_id": UUID, "message_id": UUID}
_START = {**_IDS, "model": {"type": "string"}, "stream_token": {"type": "string"}}
_DELTA = object_schema(
    {**_IDS, "delta": {"type": "string"}, "full": {"const": True}},
    ["chat_id", "message_id", "delta"],
    "`full: true` (a replay from the database): `delta` is the whole text, which replaces what the reader has.",
)
_ANSWER_USAGE = object_schema(
    {
        "prompt_tokens": {"type": "integer", "minimum": 0},
        "completion_tokens": {"type": "integer", "minimum": 0},
        "cost": CREDITS,
    }
)
_END = object_schema({**_IDS, "message": {"oneOf": [ref(MESSAGE), ref(DELETED_MESSAGE)]}, "usage": _ANSWER_USAGE})
_ERROR_DATA = object_schema(
    {**_IDS, "code": {"type": "string"}, "error": {"type": "string"}},
    ["code", "error"],
    "In a stream the answer's ids come with the code; a refusal before a stream is `{code, error}` alone.",
)
_ANSWER_EVENTS = [
    event(
        events.ASSISTANT_TYPING,
        object_schema({**_START, "user_message_id": nullable(UUID)}),
        "First event of a send or an edit: the new answer (status `streaming`), the stored user turn, and the "
        "`stream_token` that authorises GET …/stream.",
    ),
    event(
        events.ASSISTANT_REGENERATING,
        object_schema({**_START, "replaces": UUID}),
        "First event of a regenerate: `replaces` is the answer this new version replaces.",
    ),
    event(events.ASSISTANT_REASONING_DELTA, _DELTA, "The next piece of a reasoning model's thinking."),
    event(events.ASSISTANT_DELTA, _DELTA, "The next piece of the answer's text, to append."),
    event(events.ASSISTANT_COMPLETE, _END, "The stored answer and what it cost (send, edit)."),
    event(events.ASSISTANT_REGENERATED, _END, "The stored answer and what it cost (regenerate)."),
    event(events.USAGE_INFO, ref(USAGE_INFO), "The caller's quota after this answer."),
    event(
        events.ASSISTANT_ERROR,
        _ERROR_DATA,
        "The answer failed (UPSTREAM_ERROR, UPSTREAM_TIMEOUT, UPSTREAM_STALLED, UPSTREAM_DISCONNECTED, "
        "UPSTREAM_BAD_RESPONSE, GENERATION_LOST, INTERNAL_ERROR, or NOT_FOUND for a message gone): the last event.",
    ),
]

COMPONENTS: dict[str, Schema] = {
    **CHATS_COMPONENTS,
    USAGE_INFO: {
        "description": "The caller's quota: a guest's free messages, or a user's credits.",
        "oneOf": [
            object_schema(
                {
                    "anonymous": {"const": True},
                    "used": {"type": "integer", "minimum": 0},
                    "limit": {"type": "integer", "minimum": 0},
                    "remaining": {"type": "integer", "minimum": 0},
                }
            ),
            object_schema(
                {
                    "anonymous": {"const": False},
                    "balance": CREDITS,
                    "reserved": CREDITS,
                    "available": CREDITS,
                }
            ),
        ],
    },
    ANSWER_STREAM: {
        "description": "An event of an answer. In order: `assistant_typing` (or `assistant_regenerating`), "
        "`assistant_reasoning_delta`s, `assistant_delta`s, then `assistant_complete` (or `assistant_regenerated`) "
        "and `usage_info`; a failed answer ends with `usage_info` and `assistant_error`. On the wire each event is "
        "`event:`, `id:`, `retry:` and one `data:` line of JSON; after SSE_PING_SECONDS of silence the server "
        "sends the comment `: ping`.",
        "oneOf": _ANSWER_EVENTS,
    },
    ERROR_EVENT: event(
        events.ASSISTANT_ERROR, ref(ERROR), "A refusal before the stream: its one event, with id 1 and `{code, error}`."
    ),
}


def stream_error(*codes: str) -> Schema:
    """A refusal before a stream: an event-stream body of one event, or JSON when ``Accept`` asks for JSON only."""
    return {
        "description": " or ".join(codes),
        "content": {EVENT_STREAM: {"schema": ref(ERROR_EVENT)}, **json_content(ref(ERROR))},
    }


def stream_refusals() -> dict[str, Schema]:
    """What the streaming endpoints refuse before a stream, as they refuse it (``_stream_error``)."""
    return {
        "400": stream_error("VALIDATION_ERROR"),
        "401": stream_error("AUTH_REQUIRED", "TOKEN_INVALID"),
        "503": stream_error("SERVER_SHUTTING_DOWN", "SERVICE_UNAVAILABLE"),
    }
