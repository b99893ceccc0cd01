"""A chat around its answers: titled after the first one, and deleting it stops a running answer."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from chats.models import Chat, Message
from chats.protocol import protocol_dispatch
from chatsite.identity import Identity
from messaging.stops import stop_request
from tests.sse import read_events

pytestmark = pytest.mark.django_db(transaction=True)
GUEST = "guest-lifecycle"


async def send(body: dict[str, Any]) -> Any:
    return await AsyncClient().post(
        "/api/v1/messages/send", data=json.dumps(body), content_type="application/json", headers={"x-anon-id": GUEST}
    )


async def eventually(check: Any) -> Any:
    for _ in range(250):
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise AssertionError("never happened")


async def test_a_real_model_names_a_new_chat(fake_model: Any, upstream: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=3")

    events = await read_events(await send({"model": "fake", "content": "plan a trip to Lisbon"}))

    chat_id = events[0].data["chat_id"]
    chat = await eventually(lambda: Chat.objects.exclude(title="").filter(pk=chat_id).afirst())
    assert chat.title == "tok0 tok1 tok2"
    title_request = upstream.requests[-1].body
    assert title_request["messages"][0]["role"] == "system"
    assert title_request["messages"][1]["content"] == "plan a trip to Lisbon"


async def test_the_echo_model_names_a_chat_from_the_first_words() -> None:
    events = await read_events(await send({"content": "one two three four five six seven eight"}))

    chat = await eventually(lambda: Chat.objects.exclude(title="").filter(pk=events[0].data["chat_id"]).afirst())
    assert chat.title == "one two three four five six"


async def test_a_title_the_owner_chose_is_kept() -> None:
    first = await read_events(await send({"content": "first words here"}))
    chat_id = first[0].data["chat_id"]
    await eventually(lambda: Chat.objects.exclude(title="").filter(pk=chat_id).afirst())
    await database_sync_to_async(protocol_dispatch)(
        Identity(anon_id=GUEST), "rename_chat", {"chat_id": chat_id, "title": "Mine"}
    )

    await read_events(await send({"chat_id": chat_id, "content": "more"}))

    assert (await Chat.objects.aget(pk=chat_id)).title == "Mine"


async def test_deleting_a_chat_stops_its_running_answer(fake_model: Any, upstream: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=500:delay_ms=10")
    response = await send({"model": "fake", "content": "hi"})
    typing = await read_events(response, limit=3)

    reply = await database_sync_to_async(protocol_dispatch)(
        Identity(anon_id=GUEST), "delete_chat", {"chat_id": typing[0].data["chat_id"]}
    )
    for message_id in reply.stop:
        await stop_request(message_id)
    rest = await asyncio.wait_for(read_events(response), timeout=5)

    assert reply.stop == [typing[0].data["message_id"]]
    assert rest[-2].data["message"]["deleted"] is True  # its row went with the chat
    assert rest[-2].data["message"]["status"] == "stopped"
    assert not await Message.objects.aexists()
    assert await eventually(lambda: asyncio.sleep(0, upstream.requests[-1].closed_by_client))
