"""A shared log that lost events (a write dropped in a Redis outage, a Redis that restarted empty) is never shown
with a hole in it: its reader takes the answer from the database instead."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import AsyncClient

from chatsite.redis import redis_client
from messaging import events
from messaging.events import StreamEvent, log_entry, log_key
from messaging.hub import hub
from tests.sse import read_events
from tests.waiting import message_finished

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis]
GUEST = "guest-log-gaps-1"


def text_of(received: list[Any]) -> str:
    text = ""
    for event in received:
        if event.name == events.ASSISTANT_DELTA:
            text = event.data["delta"] if event.data.get("full") else text + event.data["delta"]
    return text


async def test_a_reader_of_a_log_with_a_gap_gets_the_events_before_it_then_the_whole_stored_answer() -> None:
    sent = await AsyncClient().post(
        "/api/v1/messages/send",
        data=json.dumps({"content": "one two three four"}),
        content_type="application/json",
        headers={"x-anon-id": GUEST},
    )
    live = await read_events(sent)
    message_id = live[0].data["message_id"]
    stored = await message_finished(message_id)
    hub.local.pop(message_id, None)  # as if it ran in another process
    # The log as a restarted Redis would hold it: the first events, then a hole, then the end.
    key = log_key(message_id)
    await redis_client().delete(key)
    wire = [StreamEvent(e.id, e.name, e.data, e.id == live[-1].id) for e in live]
    await redis_client().xadd(key, log_entry(wire[:2]))
    await redis_client().xadd(key, log_entry(wire[4:]))

    received = await read_events(
        await AsyncClient().get(f"/api/v1/messages/{message_id}/stream", headers={"x-anon-id": GUEST})
    )

    assert [event.id for event in received[:2]] == [1, 2]
    assert received[2].data.get("full") is True
    assert received[-1].name == events.ASSISTANT_COMPLETE
    assert text_of(received) == stored.content == "You said: one two three four"
