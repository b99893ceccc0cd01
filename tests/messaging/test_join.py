"""Any tab can join a running answer: the owner's sockets hear ``generation_started``, and a tab opened later
finds the answer in the Chat object's ``streaming_message_id``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from chatsite.asgi import application
from tests.sse import read_events
from tests.waiting import message_finished

pytestmark = pytest.mark.django_db(transaction=True)
GUEST = "guest-joining-1"


async def socket(anon_id: str = GUEST) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        application, "/ws/chats/", headers=[(b"origin", b"http://localhost:3000"), (b"x-anon-id", anon_id.encode())]
    )
    assert (await communicator.connect())[0]
    assert (await communicator.receive_json_from())["event"] == "usage_info"
    return communicator


async def until(communicator: WebsocketCommunicator, event: str) -> dict[str, Any]:
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        if frame["event"] == event:
            return frame["data"]


async def test_a_tab_opened_while_an_answer_runs_finds_it_and_can_follow_it(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=2000:delay_ms=10")  # runs until stopped
    owner, stranger = await socket(), await socket("someone-else-7")
    response = await AsyncClient().post(
        "/api/v1/messages/send",
        data=json.dumps({"model": "fake", "content": "hi"}),
        content_type="application/json",
        headers={"x-anon-id": GUEST},
    )
    typing = (await read_events(response, limit=1))[0].data

    started = await until(owner, "generation_started")
    later = await socket()
    await later.send_json_to({"event": "list_chats", "data": {}})
    listed = await until(later, "chats_list")
    await AsyncClient().post(f"/api/v1/messages/{typing['message_id']}/stop", headers={"x-anon-id": GUEST})
    followed = await read_events(
        await AsyncClient().get(
            f"/api/v1/messages/{started['message_id']}/stream?stream_token={started['stream_token']}"
        )
    )

    assert started == {k: typing[k] for k in ("chat_id", "message_id", "stream_token")}
    assert listed["chats"][0]["streaming_message_id"] == typing["message_id"]
    assert [event.name for event in followed][-2:] == ["assistant_complete", "usage_info"]
    await message_finished(typing["message_id"])
    await later.send_json_to({"event": "list_chats", "data": {}})
    assert (await until(later, "chats_list"))["chats"][0]["streaming_message_id"] is None
    assert await stranger.receive_nothing(timeout=0.3)
    for communicator in (owner, stranger, later):
        await communicator.disconnect()
