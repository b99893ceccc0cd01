"""A reasoning model's thinking: streamed as assistant_reasoning_delta before the text, stored with the answer,
resumed and replayed like the text, never sent back upstream, and dropped when the catalog turns it off."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient
from django.utils import timezone

from chats.models import Chat, Message
from chats.protocol import list_messages
from chatsite.identity import Identity
from tests.sse import Event, joined_deltas, names, read_events
from tests.waiting import message_finished

pytestmark = pytest.mark.django_db(transaction=True)
GUEST = "guest-reason-01"
THOUGHTS = "think0 think1 think2 "
TEXT = "tok0 tok1 tok2 tok3"


async def send(body: dict[str, Any]) -> Any:
    return await AsyncClient().post(
        "/api/v1/messages/send", data=json.dumps(body), content_type="application/json", headers={"x-anon-id": GUEST}
    )


def reasoning_of(events: list[Event]) -> str:
    return "".join(event.data["delta"] for event in events if event.name == "assistant_reasoning_delta")


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
async def test_a_reasoning_answer_streams_its_reasoning_then_its_text(fake_model: Any, key: str) -> None:
    await database_sync_to_async(fake_model)(upstream_model=f"fake:reasoning=3:reasoning_key={key}:tokens=4")

    events = await read_events(await send({"model": "fake", "content": "hi"}))

    assert names(events) == [
        "assistant_typing",
        *["assistant_reasoning_delta"] * 3,
        *["assistant_delta"] * 4,
        "assistant_complete",
        "usage_info",
    ]
    assert [event.id for event in events] == list(range(1, len(events) + 1))
    ids = events[0].data
    assert all(e.data["message_id"] == ids["message_id"] and e.data["chat_id"] == ids["chat_id"] for e in events[1:8])
    assert (reasoning_of(events), joined_deltas(events)) == (THOUGHTS, TEXT)
    assert (events[-2].data["message"]["reasoning"], events[-2].data["message"]["content"]) == (THOUGHTS, TEXT)
    stored = await Message.objects.aget(pk=ids["message_id"])
    assert (stored.reasoning, stored.content) == (THOUGHTS, TEXT)


async def test_the_reasoning_is_listed_with_the_answer_and_never_sent_back_upstream(
    fake_model: Any, upstream: Any
) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:reasoning=3:tokens=4")
    first = await read_events(await send({"model": "fake", "content": "hi"}))
    chat_id = first[0].data["chat_id"]

    await read_events(await send({"chat_id": chat_id, "content": "and then?"}))

    sent = upstream.request_with("and then?").body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [("user", "hi"), ("assistant", TEXT), ("user", "and then?")]
    assert all(set(m) == {"role", "content"} for m in sent)
    listing = await database_sync_to_async(list_messages)(Identity(anon_id=GUEST), {"chat_id": chat_id})
    assert [m["reasoning"] for m in listing.data["messages"]] == ["", THOUGHTS, "", THOUGHTS]


async def test_a_model_whose_catalog_entry_turns_reasoning_off_drops_it(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:reasoning=3:tokens=4", reasoning=False)

    events = await read_events(await send({"model": "fake", "content": "hi"}))

    assert "assistant_reasoning_delta" not in names(events)
    assert joined_deltas(events) == TEXT
    assert (await Message.objects.aget(pk=events[0].data["message_id"])).reasoning == ""
    catalog = (await AsyncClient().get("/api/v1/models")).json()["models"]
    assert {model["name"]: model["reasoning"] for model in catalog} == {"echo": True, "fake": False}


async def test_a_reader_that_comes_back_mid_reasoning_gets_exactly_the_rest(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:reasoning=3:tokens=4:delay_ms=20")
    response = await send({"model": "fake", "content": "hi"})
    seen = await read_events(response, limit=3)
    await response.streaming_content.aclose()
    message_id, token = seen[0].data["message_id"], seen[0].data["stream_token"]

    resumed = await read_events(
        await AsyncClient().get(
            f"/api/v1/messages/{message_id}/stream?stream_token={token}", headers={"Last-Event-ID": str(seen[-1].id)}
        )
    )

    both = seen + resumed
    assert [event.id for event in both] == list(range(1, len(both) + 1))
    assert (reasoning_of(both), joined_deltas(both)) == (THOUGHTS, TEXT)


async def test_a_replay_from_the_database_holds_the_reasoning_and_the_text(fake_model: Any, settings: Any) -> None:
    from messaging.hub import hub

    await database_sync_to_async(fake_model)(upstream_model="fake:reasoning=3:tokens=4")
    events = await read_events(await send({"model": "fake", "content": "hi"}))
    message_id = events[0].data["message_id"]
    stream = hub.local.get(message_id)
    if stream is not None:
        await stream.flushed()
    hub.local.pop(message_id, None)  # what expiry does
    if settings.REDIS_URL:
        from chatsite.redis import redis_client, redis_key

        await redis_client().delete(redis_key("stream", message_id))

    for after in (2, events[-1].id - 1):
        replay = await read_events(
            await AsyncClient().get(
                f"/api/v1/messages/{message_id}/stream", headers={"x-anon-id": GUEST, "Last-Event-ID": str(after)}
            )
        )

        assert names(replay) == ["assistant_reasoning_delta", "assistant_delta", "assistant_complete"]
        assert [(e.data["delta"], e.data["full"]) for e in replay[:2]] == [(THOUGHTS, True), (TEXT, True)]
        assert all(event.id > after for event in replay)  # ahead of whatever the reader saw
        assert replay[-1].id == max(events[-1].id, after + 3)


@pytest.mark.redis
async def test_a_lost_generation_keeps_the_reasoning_its_log_holds(settings: Any) -> None:
    from chatsite.redis import redis_client, redis_key
    from messaging.recovery import generations_reap

    settings.GENERATION_ORPHAN_SECONDS = 5

    @database_sync_to_async
    def streaming_answer() -> Message:
        chat = Chat.objects.create(anon_id=GUEST, model="echo")
        Message.objects.create(chat=chat, role="user", content="hi", position=0)
        message = Message.objects.create(chat=chat, role="assistant", status="streaming", position=1)
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=60))
        return message

    message = await streaming_answer()
    ids = {"chat_id": str(message.chat_id), "message_id": str(message.pk)}
    logged = [
        [1, "assistant_typing", ids, False],
        [2, "assistant_reasoning_delta", {**ids, "delta": "hmm "}, False],
        [3, "assistant_delta", {**ids, "delta": "half"}, False],
    ]
    await redis_client().xadd(redis_key("stream", str(message.pk)), {"e": json.dumps(logged)})

    await generations_reap()
    await generations_reap()

    stored = await message_finished(str(message.pk))
    assert (stored.status, stored.reasoning, stored.content) == ("failed", "hmm ", "half")
