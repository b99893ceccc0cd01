"""Reads for the streaming endpoints."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from django.db.models.functions import Length

from chats.models import Message
from chats.selectors import message_versions
from chatsite.errors import NotFound, error_for_code
from messaging import events
from messaging.events import Batch, StreamEvent

# A long text is replayed in pages of this many characters, so no single event (but the end) is huge.
PAGE_CHARS = 64 * 1024


class Replay(list[StreamEvent]):
    """The events replaying a finished answer, shared by every reader of it in this process (weakly cached:
    twenty readers of a long answer cost one copy of it, not twenty)."""


_replays: weakref.WeakValueDictionary[tuple[str, tuple[int, ...]], Replay] = weakref.WeakValueDictionary()
_building: dict[tuple[str, tuple[int, ...]], threading.Lock] = {}
_building_lock = threading.Lock()


def message_has_ended(*, message_id: str) -> bool:
    return Message.objects.filter(pk=message_id).exclude(status=Message.Status.STREAMING).exists()


def stored_replay(*, message_id: str, after: int) -> Batch | None:
    """A finished message as stream events (its reasoning and its text, each in pages, then its end); None while
    streaming.

    Used when no live log is followed: the answer ended, or the process that ran it died before writing one.
    The events keep the live stream's numbering when it is known, and a reader that saw the end gets none.
    """
    # The texts' lengths, not the texts: a reader of a replay this process already made loads nothing big.
    lengths = {"content_length": Length("content"), "reasoning_length": Length("reasoning")}
    found: Any = Message.objects.filter(pk=message_id).values("status", "last_event_id", **lengths).first()
    if found is None:
        return [StreamEvent(events.next_id(after), events.ASSISTANT_ERROR, events.error_data(NotFound()), True)]
    if found["status"] == Message.Status.STREAMING:
        return None
    if found["last_event_id"] and after >= found["last_event_id"]:
        return []
    count = bool(found["reasoning_length"]) + bool(found["content_length"]) + 1
    ids = tuple(events.replay_ids(found["last_event_id"], after, count))
    return _shared((message_id, ids), lambda: _replay(Message.objects.get(pk=message_id), ids))


def _shared(key: tuple[str, tuple[int, ...]], build: Callable[[], Replay]) -> Replay:
    """The cached replay of ``key``, built once however many readers ask for it at the same time (each would
    otherwise load the whole message and make a copy of every event)."""
    with _building_lock:
        lock = _building.setdefault(key, threading.Lock())
    with lock:
        replay = _replays.get(key)
        if replay is None:
            replay = _replays[key] = build()
    with _building_lock:
        _building.pop(key, None)
    return replay


def _replay(message: Message, event_ids: tuple[int, ...]) -> Replay:
    ids = events.answer_ids(str(message.chat_id), str(message.pk))
    texts = [
        (name, text)
        for name, text in (
            (events.ASSISTANT_REASONING_DELTA, message.reasoning),
            (events.ASSISTANT_DELTA, message.content),
        )
        if text
    ]
    *text_ids, end_id = event_ids
    replay = Replay(
        page for text_id, (name, text) in zip(text_ids, texts, strict=True) for page in _pages(name, text, ids, text_id)
    )
    if message.status == Message.Status.FAILED:
        data = events.error_data(error_for_code(message.error_code), **ids)
        replay.append(StreamEvent(end_id, events.ASSISTANT_ERROR, data, True))
        return replay
    payload = message.to_payload(versions=message_versions(message))
    data = events.end_data(**ids, message=payload, usage=events.stored_usage(payload))
    replay.append(StreamEvent(end_id, events.end_name(regenerated=message.version > 1), data, True))
    return replay


def _pages(name: str, text: str, ids: dict[str, Any], text_id: int) -> list[StreamEvent]:
    """A text as deltas: the first replaces what the reader has (``full``), the others append; only the last
    carries an id, so a reader cut off in the middle resumes from before the first and starts over."""
    starts = range(0, len(text), PAGE_CHARS)
    pages = []
    for number, start in enumerate(starts):
        data = {**ids, "delta": text[start : start + PAGE_CHARS], **({"full": True} if number == 0 else {})}
        pages.append(StreamEvent(text_id if number == len(starts) - 1 else None, name, data))
    return pages
