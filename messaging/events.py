"""The SSE vocabulary: every event name the streaming endpoints send, the event type, one builder per payload,
and how events are numbered. Payloads are described in docs/protocol.md."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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

# Events whose writes to the shared log may wait to be batched (every other event is written at once).
COALESCED = frozenset({ASSISTANT_DELTA, ASSISTANT_REASONING_DELTA})


@dataclass(frozen=True, slots=True)
class StreamEvent:
    id: int
    name: str
    data: dict[str, Any]
    final: bool = False

    def to_wire(self) -> list[Any]:
        return [self.id, self.name, self.data, self.final]

    @classmethod
    def from_wire(cls, item: list[Any]) -> StreamEvent:
        return cls(int(item[0]), str(item[1]), item[2], bool(item[3]))


Batch = list[StreamEvent]


# The shared log of an answer (a Redis Stream): each entry holds a batch of events in its one field.
LOG_FIELD = "e"


def log_key(message_id: str) -> str:
    return redis_key("stream", message_id)


def log_entry(batch: Batch) -> dict[FieldT, EncodableT]:
    return {LOG_FIELD: json.dumps([event.to_wire() for event in batch], separators=(",", ":"))}


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
