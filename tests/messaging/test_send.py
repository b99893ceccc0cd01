"""POST /api/v1/messages/send: the seed's streaming contract, through the real openai client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from chats.models import Chat, Message
from tests.sse import joined_deltas, names, read_events

pytestmark = pytest.mark.django_db(transaction=True)
ANON = {"x-anon-id": "guest-000001"}


async def send(client: AsyncClient, body: dict[str, Any], **headers: str) -> Any:
    return await client.post(
        "/api/v1/messages/send", data=json.dumps(body), content_type="application/json", headers={**ANON, **headers}
    )


async def test_it_streams_an_echo_answer_and_stores_it() -> None:
    response = await send(AsyncClient(), {"content": "hello brave new world"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    events = await read_events(response)
    assert names(events)[0] == "assistant_typing"
    assert names(events)[-2:] == ["assistant_complete", "usage_info"]
    assert [event.id for event in events] == list(range(1, len(events) + 1))
    complete = events[-2].data
    stored = await Message.objects.aget(pk=complete["message_id"])
    assert joined_deltas(events) == stored.content == "You said: hello brave new world"
    assert stored.status == "complete"
    assert complete["message"]["content"] == stored.content
    assert events[-1].data == {"anonymous": True, "used": 1, "limit": 10, "remaining": 9}


async def test_it_sends_the_chat_history_upstream(fake_model: Any, upstream: Any) -> None:
    await database_sync_to_async(fake_model)()
    client = AsyncClient()
    first = await read_events(await send(client, {"model": "fake", "content": "first question"}))
    chat_id = first[0].data["chat_id"]
    upstream.reset()

    second = await read_events(await send(client, {"chat_id": chat_id, "content": "second question"}))

    assert names(second)[-2:] == ["assistant_complete", "usage_info"]
    sent = upstream.request_with("second question").body
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][0]["content"] == "first question"
    assert sent["messages"][1]["content"] == joined_deltas(first)
    assert sent["messages"][2]["content"] == "second question"
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert await Message.objects.filter(chat_id=chat_id).acount() == 4


async def test_an_upstream_500_before_the_first_chunk_is_an_in_stream_error(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:status=500")

    events = await read_events(await send(AsyncClient(), {"model": "fake", "content": "hi"}))

    assert names(events) == ["assistant_typing", "usage_info", "assistant_error"]
    assert events[-1].data["code"] == "UPSTREAM_ERROR"
    message = await Message.objects.aget(pk=events[-1].data["message_id"])
    assert message.status == "failed" and message.content == ""
    assert events[1].data["used"] == 0  # the free message is given back


async def test_a_connection_cut_mid_stream_keeps_what_arrived(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:cut_after=3")

    events = await read_events(await send(AsyncClient(), {"model": "fake", "content": "hi"}))

    assert events[-1].name == "assistant_error"
    assert events[-1].data["code"] == "UPSTREAM_DISCONNECTED"
    message = await Message.objects.aget(pk=events[-1].data["message_id"])
    assert message.status == "failed"
    assert message.content == joined_deltas(events) == "tok0 tok1 tok2"


async def test_a_missing_usage_chunk_is_estimated_from_the_text(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:no_usage:tokens=4")

    events = await read_events(await send(AsyncClient(), {"model": "fake", "content": "hi"}))

    usage = events[-2].data["usage"]
    assert usage["completion_tokens"] == 5  # "tok0 tok1 tok2 tok3" is 19 characters: ceil(19 / 4)
    assert usage["prompt_tokens"] > 0


async def test_unknown_model_is_a_404_sse_error_before_the_stream() -> None:
    response = await send(AsyncClient(), {"model": "nope", "content": "hi"})

    assert response.status_code == 404
    events = await read_events(response)
    assert names(events) == ["assistant_error"]
    assert events[0].data["code"] == "MODEL_NOT_FOUND"
    assert await Chat.objects.acount() == 0


async def test_errors_are_json_when_the_client_asks_for_json() -> None:
    response = await AsyncClient().post(
        "/api/v1/messages/send",
        data="{",
        content_type="application/json",
        headers={**ANON, "Accept": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
