"""Answers outlive their readers: resume by Last-Event-ID, stop, one generation per chat, idempotent sends."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from chats.models import Message
from tests.sse import joined_deltas, names, read_events
from tests.waiting import message_finished
from usage.models import AnonUsage

pytestmark = pytest.mark.django_db(transaction=True)
GUEST = "guest-durable-1"


async def send(body: dict[str, Any], anon_id: str = GUEST, **headers: str) -> Any:
    return await AsyncClient().post(
        "/api/v1/messages/send",
        data=json.dumps(body),
        content_type="application/json",
        headers={"x-anon-id": anon_id, **headers},
    )


async def test_a_reader_that_comes_back_gets_exactly_the_events_it_missed(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=40:delay_ms=5")
    response = await send({"model": "fake", "content": "hi"})
    seen = await read_events(response, limit=6)
    await response.streaming_content.aclose()
    message_id, token = seen[0].data["message_id"], seen[0].data["stream_token"]

    resumed = await read_events(
        await AsyncClient().get(
            f"/api/v1/messages/{message_id}/stream?stream_token={token}", headers={"Last-Event-ID": str(seen[-1].id)}
        )
    )

    assert [event.id for event in seen + resumed] == list(range(1, len(seen) + len(resumed) + 1))
    assert names(resumed)[-2:] == ["assistant_complete", "usage_info"]
    stored = await message_finished(message_id)
    assert joined_deltas(seen + resumed) == stored.content == " ".join(f"tok{i}" for i in range(40))


async def test_resuming_a_finished_stream_replays_it_from_any_id() -> None:
    events = await read_events(await send({"content": "a b c"}))
    message_id = events[0].data["message_id"]

    replay = await read_events(
        await AsyncClient().get(f"/api/v1/messages/{message_id}/stream?last_event_id=2", headers={"x-anon-id": GUEST})
    )

    assert replay == events[2:]


async def test_resuming_after_the_log_expired_replays_the_stored_message(settings: Any) -> None:
    from messaging.hub import hub

    events = await read_events(await send({"content": "a b c"}))
    message_id = events[0].data["message_id"]
    stream = hub.local.get(message_id)
    if stream is not None:
        await stream.flushed()
    hub.local.pop(message_id, None)  # what expiry does
    if settings.REDIS_URL:
        from chatsite.redis import redis_client, redis_key

        await redis_client().delete(redis_key("stream", message_id))

    replay = await read_events(
        await AsyncClient().get(
            f"/api/v1/messages/{message_id}/stream", headers={"x-anon-id": GUEST, "Last-Event-ID": "3"}
        )
    )

    assert names(replay) == ["assistant_delta", "assistant_complete"]
    assert replay[0].data == {
        "chat_id": events[0].data["chat_id"],
        "message_id": message_id,
        "delta": "You said: a b c",
        "full": True,
    }
    assert [event.id for event in replay] == [events[-1].id - 1, events[-1].id]  # numbered as the live stream was


async def test_a_reader_that_saw_the_end_gets_204_so_eventsource_stops_reconnecting() -> None:
    events = await read_events(await send({"content": "a b c"}))
    message_id = events[0].data["message_id"]

    response = await AsyncClient().get(
        f"/api/v1/messages/{message_id}/stream", headers={"x-anon-id": GUEST, "Last-Event-ID": str(events[-1].id)}
    )

    assert response.status_code == 204


async def test_a_stream_token_reads_only_its_own_message() -> None:
    first = await read_events(await send({"content": "one"}))
    second = await read_events(await send({"content": "two"}))

    response = await AsyncClient().get(
        f"/api/v1/messages/{second[0].data['message_id']}/stream?stream_token={first[0].data['stream_token']}"
    )

    assert response.status_code == 404
    tampered = first[0].data["stream_token"][:-2] + "xx"
    response = await AsyncClient().get(f"/api/v1/messages/{first[0].data['message_id']}/stream?stream_token={tampered}")
    assert response.status_code == 404
    response = await AsyncClient().get(f"/api/v1/messages/{first[0].data['message_id']}/stream")
    assert response.status_code == 401


async def test_stop_ends_the_answer_with_what_was_generated(fake_model: Any, upstream: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=500:delay_ms=10")
    response = await send({"model": "fake", "content": "hi"})
    seen = await read_events(response, limit=4)
    message_id = seen[0].data["message_id"]

    stopped = await AsyncClient().post(f"/api/v1/messages/{message_id}/stop", headers={"x-anon-id": GUEST})
    rest = await read_events(response)

    assert stopped.status_code == 202
    assert names(rest)[-2:] == ["assistant_complete", "usage_info"]
    assert rest[-2].data["message"]["status"] == "stopped"
    message = await message_finished(message_id)
    assert message.status == "stopped"
    assert message.content == joined_deltas(seen + rest)
    assert 3 <= message.completion_tokens < 500
    await asyncio.sleep(0.2)
    assert upstream.requests[-1].closed_by_client


async def test_stop_before_the_first_token_works(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:first_delay_ms=5000")
    response = await send({"model": "fake", "content": "hi"})
    typing = await read_events(response, limit=1)

    await AsyncClient().post(f"/api/v1/messages/{typing[0].data['message_id']}/stop", headers={"x-anon-id": GUEST})
    rest = await asyncio.wait_for(read_events(response), timeout=3)

    assert rest[-2].data["message"]["status"] == "stopped"
    assert rest[-2].data["message"]["content"] == ""


async def test_stop_of_someone_elses_message_is_not_found(fake_model: Any) -> None:
    events = await read_events(await send({"content": "hi"}))

    response = await AsyncClient().post(
        f"/api/v1/messages/{events[0].data['message_id']}/stop", headers={"x-anon-id": "other-guest-1"}
    )

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


async def test_a_second_send_to_a_chat_that_is_answering_gets_409(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=50:delay_ms=10")
    first = await send({"model": "fake", "content": "hi"})
    typing = await read_events(first, limit=1)

    second = await send({"chat_id": typing[0].data["chat_id"], "content": "again"})

    assert second.status_code == 409
    assert (await read_events(second))[0].data["code"] == "GENERATION_IN_PROGRESS"
    await read_events(first)
    assert (await AnonUsage.objects.aget(pk=GUEST)).used == 1  # the refused send costs nothing


async def test_two_parallel_sends_to_one_chat_let_one_through(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=20:delay_ms=20")
    chat_id = (await read_events(await send({"model": "fake", "content": "start"})))[0].data["chat_id"]

    responses = await asyncio.gather(*(send({"chat_id": chat_id, "content": f"n{i}"}) for i in range(2)))

    assert sorted(r.status_code for r in responses) == [200, 409]
    for response in responses:
        await read_events(response)


async def test_a_retried_send_with_the_same_key_returns_the_same_stream_without_a_second_charge() -> None:
    body = {"content": "once only", "client_message_id": "key-0001"}
    first = await read_events(await send(body))

    retry = await read_events(await send(body))

    assert retry[0].data["message_id"] == first[0].data["message_id"]
    assert joined_deltas(retry) == joined_deltas(first)
    assert await Message.objects.acount() == 2
    assert (await AnonUsage.objects.aget(pk=GUEST)).used == 1


async def test_the_same_key_with_a_different_body_is_refused() -> None:
    await read_events(await send({"content": "once only"}, **{"Idempotency-Key": "key-0002"}))

    response = await send({"content": "something else"}, **{"Idempotency-Key": "key-0002"})

    assert response.status_code == 422
    assert (await read_events(response))[0].data["code"] == "IDEMPOTENCY_MISMATCH"


@pytest.mark.parametrize(
    ("upstream_model", "timeouts", "code", "content"),
    [
        ("fake:status=500", {}, "UPSTREAM_ERROR", ""),
        ("fake:cut_after=2", {}, "UPSTREAM_DISCONNECTED", "tok0 tok1"),
        ("fake:stall_after=2", {"UPSTREAM_STALL_TIMEOUT": 0.3}, "UPSTREAM_STALLED", "tok0 tok1"),
        ("fake:first_delay_ms=3000", {"UPSTREAM_FIRST_TOKEN_TIMEOUT": 0.3}, "UPSTREAM_TIMEOUT", ""),
        ("fake:malformed_after=2", {}, "UPSTREAM_BAD_RESPONSE", "tok0 tok1"),
    ],
)
async def test_each_upstream_fault_has_its_own_code(
    fake_model: Any, settings: Any, upstream_model: str, timeouts: dict[str, float], code: str, content: str
) -> None:
    for name, value in timeouts.items():
        setattr(settings, name, value)
    await database_sync_to_async(fake_model)(upstream_model=upstream_model)

    events = await read_events(await send({"model": "fake", "content": "hi"}))

    assert names(events)[-1] == "assistant_error"
    assert [e.data["code"] for e in events if e.name == "assistant_error"] == [code]
    message = await message_finished(events[0].data["message_id"])
    assert (message.status, message.error_code, message.content) == ("failed", code, content)
    assert (await AnonUsage.objects.aget(pk=GUEST)).used == (1 if content else 0)


async def test_a_retried_send_replays_even_if_its_model_was_disabled_since(fake_model: Any) -> None:
    model = await database_sync_to_async(fake_model)(upstream_model="fake:tokens=3")
    body = {"model": "fake", "content": "once", "client_message_id": "key-0003"}
    first = await read_events(await send(body))
    model.enabled = False
    await model.asave()

    retry = await read_events(await send(body))

    assert retry[0].data["message_id"] == first[0].data["message_id"]
    assert joined_deltas(retry) == "tok0 tok1 tok2"


async def test_a_stream_token_of_a_deleted_message_is_a_404() -> None:
    events = await read_events(await send({"content": "soon gone"}))
    await Message.objects.filter(pk=events[0].data["message_id"]).adelete()

    response = await AsyncClient().get(
        f"/api/v1/messages/{events[0].data['message_id']}/stream?stream_token={events[0].data['stream_token']}"
    )

    assert response.status_code == 404


async def test_a_wrong_method_is_405_with_a_code() -> None:
    stream = await AsyncClient().get("/api/v1/messages/send", headers={"x-anon-id": GUEST})
    listing = await AsyncClient().post("/api/v1/models")

    assert stream.status_code == 405
    assert (await read_events(stream))[0].data["code"] == "METHOD_NOT_ALLOWED"
    assert listing.status_code == 405
    assert listing.json()["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.redis
async def test_the_redis_log_holds_every_event_in_few_writes_and_expires_after_the_end(
    fake_model: Any, settings: Any
) -> None:
    """Any process can replay an answer from its Redis log: every event, in order, deltas coalesced into a few
    writes (Redis must not see a write per token), and the log kept only STREAM_LOG_TTL_SECONDS after the end."""
    from chatsite.redis import redis_client, redis_key
    from messaging.events import StreamEvent

    settings.STREAM_LOG_TTL_SECONDS = 120
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=60:delay_ms=1")
    events = await read_events(await send({"model": "fake", "content": "hi"}))
    key = redis_key("stream", events[0].data["message_id"])

    for _ in range(100):  # the reader here got the last events live; their write to the log may trail them
        entries: Any = await redis_client().xrange(key)
        logged = [StreamEvent.from_wire(item) for _, fields in entries for item in json.loads(fields[b"e"])]
        if logged and logged[-1].final:
            break
        await asyncio.sleep(0.02)
    assert [(event.id, event.name, event.data) for event in logged] == [
        (event.id, event.name, event.data) for event in events
    ]
    assert len(entries) < len(events) / 3  # 60 deltas a millisecond apart, flushed every 25 ms
    assert 0 < await redis_client().ttl(key) <= 120
