"""The SSE vocabulary: every event name the streaming endpoints send, the event type, one builder per payload,
and how events are numbered. Payloads are described in docs/protocol.md."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from redis.typing import EncodableT, FieldT

from chatsite.errors import ApiError
from chatsite.redis import redis_key

ASSISTANT_TYPING = "assistant_typing"
ASSISTANT_REGENERATING = "assistant_regenerating"
ASSISTANT_DELTA = "assistant_delta"
ASSISTANT_REASONING_DELTA = "assistant_reasoning_delta"
ASSISTANT_COMPLETE = "assistant_complete"
ASSISTANT_REGENERATED = "assistant_regenerated"
ASSISTANT_ERROR = "assistant_error"
USAGE_INFO = "usage_info"
TEST_MESSAGE = "test_message"
TEST_COMPLETE = "test_complete"


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class StreamEvent:
    """One event of an answer's stream. Its data is encoded as JSON once, when first needed, and that one text
    serves the SSE frame every reader gets and the shared log. ``id`` is None only for the middle pages of a long
    text replayed from the database."""

    __slots__ = ("_json", "_wire", "data", "final", "id", "name")

    def __init__(
        self, id: int | None, name: str, data: dict[str, Any], final: bool = False, data_json: str | None = None
    ) -> None:
        self.id, self.name, self.data, self.final = id, name, data, final
        self._json: str | None = data_json
        self._wire: bytes | None = None

    def __repr__(self) -> str:
        return f"StreamEvent({self.id!r}, {self.name!r}, final={self.final})"

    @property
    def data_json(self) -> str:
        data_json = self._json
        if data_json is None:
            data_json = self._json = compact_json(self.data)
        return data_json

    @property
    def wire(self) -> bytes:
        """The SSE frame (as chatsite.sse.sse_event frames it)."""
        wire = self._wire
        if wire is None:
            event_id = "" if self.id is None else f"id: {self.id}\n"
            frame = f"event: {self.name}\n{event_id}retry: {settings.SSE_RETRY_MS}\ndata: {self.data_json}\n\n"
            wire = self._wire = frame.encode()
        return wire

    def logged(self) -> str:
        """The event as one JSON array in the shared log: ``[id, name, data, final]``."""
        return f'[{self.id},"{self.name}",{self.data_json},{"true" if self.final else "false"}]'

    @classmethod
    def from_wire(cls, item: list[Any]) -> StreamEvent:
        return cls(int(item[0]), str(item[1]), item[2], bool(item[3]))


class Deltas:
    """The text deltas of one answer: their data differ only in the text, so their JSON is made from a prefix
    instead of encoding a dict per token."""

    def __init__(self, name: str, ids: dict[str, str]) -> None:
        self.name, self.ids = name, ids
        self._prefix = compact_json(ids)[:-1] + ',"delta":'

    def event(self, event_id: int, text: str) -> StreamEvent:
        data_json = self._prefix + compact_json(text) + "}"
        return StreamEvent(event_id, self.name, {**self.ids, "delta": text}, data_json=data_json)


Batch = list[StreamEvent]


# The shared log of an answer (a Redis Stream): each entry holds a batch of events in its one field.
LOG_FIELD = "e"


def log_key(message_id: str) -> str:
    return redis_key("stream", message_id)


def log_entry(batch: Batch) -> dict[FieldT, EncodableT]:
    return {LOG_FIELD: log_entry_text(batch)}


def log_entry_text(batch: Batch) -> str:
    """A batch of events as the one field of a log entry holds it."""
    return "[" + ",".join(event.logged() for event in batch) + "]"


def log_entry_events(fields: dict[bytes, bytes]) -> Batch:
    return [StreamEvent.from_wire(item) for item in json.loads(fields[LOG_FIELD.encode()])]


# Numbering. An answer's events are 1, 2, 3… on every read of it, in every process. Its stream always ends with
# END_EVENTS events (the answer or the error, and the caller's usage), so the id of its last event is known
# before they are sent, and stored with the answer.
FIRST_ID = 1
END_EVENTS = 2
# A dead process may have sent readers events it never wrote to the log (up to one unflushed batch), so the
# terminal event that ends its stream is numbered well past anything a reader can have seen. Without a log
# nothing is known, so it is numbered past the longest possible answer.
ORPHAN_ID_GAP = 1000
ORPHAN_ID_WITHOUT_LOG = 1_000_000


def next_id(last: int) -> int:
    return last + 1


def last_id_when_ended(last: int) -> int:
    """The id the last event of a stream gets, when ``last`` is the id of the last event emitted before its end."""
    return last + END_EVENTS


def orphan_end_id(logged_last: int | None) -> int:
    """The id of the terminal event of a stream whose generation died (``None``: no log was kept)."""
    return ORPHAN_ID_WITHOUT_LOG if logged_last is None else logged_last + ORPHAN_ID_GAP


def replay_ids(stored_last: int, after: int, count: int) -> list[int]:
    """The ids of a replay of ``count`` events from the database for a reader that saw ``after`` (the whole
    reasoning and the whole text, those there are, then the end). The end keeps the live numbering when it is
    known, and every id comes after what the reader saw."""
    end = max(stored_last, after + count)
    return list(range(end - count + 1, end + 1))


# Payloads.
def answer_ids(chat_id: str, message_id: str) -> dict[str, str]:
    return {"chat_id": chat_id, "message_id": message_id}


def error_data(error: ApiError, *, chat_id: str | None = None, message_id: str | None = None) -> dict[str, Any]:
    """``assistant_error``: ``{code, error}`` before a stream, with the answer's ids inside one."""
    ids = answer_ids(chat_id, message_id) if chat_id is not None and message_id is not None else {}
    return {**ids, **error.payload()}


def answer_usage(*, prompt_tokens: int, completion_tokens: int, cost: str) -> dict[str, Any]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "cost": cost}


def stored_usage(message: dict[str, Any]) -> dict[str, Any]:
    """The usage of an answer as its stored Message object gives it."""
    return answer_usage(
        prompt_tokens=message["prompt_tokens"], completion_tokens=message["completion_tokens"], cost=message["cost"]
    )


def end_data(*, chat_id: str, message_id: str, message: dict[str, Any], usage: dict[str, Any]) -> dict[str, Any]:
    """``assistant_complete`` / ``assistant_regenerated``: the stored answer and what it cost."""
    return {**answer_ids(chat_id, message_id), "message": message, "usage": usage}


def end_name(*, regenerated: bool) -> str:
    return ASSISTANT_REGENERATED if regenerated else ASSISTANT_COMPLETE
