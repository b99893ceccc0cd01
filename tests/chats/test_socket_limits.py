"""Each management socket's rate limit and order, the same on both transports (chats/sockets.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.chats.raw_sio import RawSocketIO
from tests.chats.test_consumer import GUEST, authed, make_chat

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tight_limits(settings: Any) -> None:
    settings.SOCKET_RATE_PER_SECOND, settings.SOCKET_RATE_BURST, settings.SOCKET_RATE_DISCONNECT_AFTER = 0.5, 3, 4


async def test_events_over_the_burst_are_refused_with_a_retry_hint(tight_limits: None) -> None:
    communicator = await authed()
    for _ in range(3):
        await communicator.send_json_to({"event": "list_chats"})
        assert (await communicator.receive_json_from(timeout=5))["event"] == "chats_list"

    await communicator.send_json_to({"event": "list_chats"})
    reply = await communicator.receive_json_from(timeout=5)

    assert reply["event"] == "error"
    assert reply["data"]["event"] == "list_chats"
    assert reply["data"]["code"] == "RATE_LIMITED"
    assert 0 < reply["data"]["retry_after_ms"] <= 2000
    await communicator.disconnect()


async def test_pings_and_bad_frames_count_against_the_limit_too(tight_limits: None) -> None:
    communicator = await authed()
    for frame in ["{nope", json.dumps({"event": "ping"}), json.dumps({"data": {}})]:
        await communicator.send_to(text_data=frame)
        assert (await communicator.receive_json_from(timeout=5))["data"].get("code") != "RATE_LIMITED"

    await communicator.send_json_to({"event": "ping"})

    assert (await communicator.receive_json_from(timeout=5))["data"]["code"] == "RATE_LIMITED"
    await communicator.disconnect()


async def test_a_websocket_that_keeps_on_over_the_limit_is_closed_with_4429(tight_limits: None) -> None:
    communicator = await authed()
    for _ in range(3 + 4):  # the burst, then the refusals allowed
        await communicator.send_json_to({"event": "usage_info"})
        await communicator.receive_json_from(timeout=5)

    await communicator.send_json_to({"event": "usage_info"})

    last = await communicator.receive_json_from(timeout=5)
    assert last["data"]["code"] == "RATE_LIMITED"
    assert "retry_after_ms" not in last["data"]
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4429}


async def test_a_socket_io_socket_that_keeps_on_over_the_limit_is_disconnected(tight_limits: None) -> None:
    client = RawSocketIO()
    await client.open({"anon_id": GUEST})
    codes = [(await client.event("usage_info", {}))[1]["data"].get("code") for _ in range(3 + 4)]
    assert codes == [None] * 3 + ["RATE_LIMITED"] * 4

    await client.communicator.send_to(text_data='42/chats,99["usage_info",{}]')

    assert client.decode(await client.receive())[2]["code"] == "RATE_LIMITED"
    assert await client.receive() == "41/chats,"  # the namespace's DISCONNECT packet
    await client.close()


async def test_a_socket_io_socket_gets_its_replies_in_the_order_it_sent_the_events() -> None:
    chat = await make_chat()
    client = RawSocketIO()
    await client.open({"anon_id": GUEST})
    titles = [f"title {n}" for n in range(8)]

    for number, title in enumerate(titles, start=1):  # all at once, without waiting for a reply
        event = ["rename_chat", {"chat_id": str(chat.pk), "title": title}]
        await client.communicator.send_to(text_data=f"42/chats,{number}{json.dumps(event)}")
    packets = [client.decode(await client.receive()) for _ in range(2 * len(titles))]

    renamed = [packet[2]["chat"]["title"] for packet in packets if packet[0] == "event"]
    assert renamed == titles
    await client.close()
