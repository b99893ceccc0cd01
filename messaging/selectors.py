"""Reads for the streaming endpoints."""

from __future__ import annotations

from typing import Any

from chats.models import Message
from chats.selectors import message_versions
from chatsite.errors import error_for_code
from messaging import events
from messaging.streams import StreamEvent


def stored_replay(*, message_id: str, after: int) -> list[StreamEvent] | None:
    """A finished message as stream events (the whole text as one delta, then its end); None while streaming.

    Used when no event log is left to replay: it expired, or the process that ran it died before writing it.
    The events keep the live stream's numbering when it is known, and a reader that saw the end gets none.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return [StreamEvent(after + 1, events.ASSISTANT_ERROR, {"code": "NOT_FOUND", "error": "Not found."}, True)]
    if message.status == Message.Status.STREAMING:
        return None
    if message.last_event_id and after >= message.last_event_id:
        return []
    base: dict[str, Any] = {"chat_id": str(message.chat_id), "message_id": str(message.pk)}
    replay = []
    end_id = max(message.last_event_id, after + 2)
    if message.content:
        replay.append(StreamEvent(end_id - 1, events.ASSISTANT_DELTA, {**base, "delta": message.content, "full": True}))
    next_id = end_id
    if message.status == Message.Status.FAILED:
        error = error_for_code(message.error_code)
        replay.append(StreamEvent(next_id, events.ASSISTANT_ERROR, {**base, **error.payload()}, True))
        return replay
    name = events.ASSISTANT_REGENERATED if message.version > 1 else events.ASSISTANT_COMPLETE
    usage = {
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "cost": str(message.cost),
    }
    payload = {**base, "message": message.to_payload(versions=message_versions(message)), "usage": usage}
    replay.append(StreamEvent(next_id, name, payload, True))
    return replay
