"""Reads for the streaming endpoints."""

from __future__ import annotations

from chats.models import Message
from chats.selectors import message_versions
from chatsite.errors import NotFound, error_for_code
from messaging import events
from messaging.events import Batch, StreamEvent


def stored_replay(*, message_id: str, after: int) -> Batch | None:
    """A finished message as stream events (the whole reasoning and the whole text as one delta each, then its
    end); None while streaming.

    Used when no event log is left to replay: it expired, or the process that ran it died before writing it.
    The events keep the live stream's numbering when it is known, and a reader that saw the end gets none.
    """
    message = Message.objects.filter(pk=message_id).first()
    if message is None:
        return [StreamEvent(events.next_id(after), events.ASSISTANT_ERROR, events.error_data(NotFound()), True)]
    if message.status == Message.Status.STREAMING:
        return None
    if message.last_event_id and after >= message.last_event_id:
        return []
    ids = events.answer_ids(str(message.chat_id), str(message.pk))
    texts = [
        (name, text)
        for name, text in (
            (events.ASSISTANT_REASONING_DELTA, message.reasoning),
            (events.ASSISTANT_DELTA, message.content),
        )
        if text
    ]
    *text_ids, end_id = events.replay_ids(message.last_event_id, after, len(texts) + 1)
    replay = [
        StreamEvent(event_id, name, {**ids, "delta": text, "full": True})
        for event_id, (name, text) in zip(text_ids, texts, strict=True)
    ]
    if message.status == Message.Status.FAILED:
        data = events.error_data(error_for_code(message.error_code), **ids)
        return [*replay, StreamEvent(end_id, events.ASSISTANT_ERROR, data, True)]
    payload = message.to_payload(versions=message_versions(message))
    data = events.end_data(**ids, message=payload, usage=events.stored_usage(payload))
    return [*replay, StreamEvent(end_id, events.end_name(regenerated=message.version > 1), data, True)]
