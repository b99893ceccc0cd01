"""Hostile frames on /ws/chats/ get a coded error and the socket stays open (never a close 1011)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from chats.models import Chat
from tests.chats.test_consumer import GUEST, ask, authed, connect, make_chat

pytestmark = pytest.mark.django_db(transaction=True)


async def still_open(communicator: WebsocketCommunicator) -> None:
    assert await ask(communicator, "ping") == {"event": "pong", "data": {}}


async def refused(communicator: WebsocketCommunicator, code: str) -> dict[str, Any]:
    reply = await communicator.receive_json_from(timeout=5)
    assert reply["event"] == "error", reply
    assert reply["data"]["code"] == code, reply
    assert reply["data"]["error"]
    await still_open(communicator)
    return dict(reply["data"])


@pytest.mark.parametrize("title", ["a\x00b", "lone \ud800", "\udc00"])
async def test_a_title_with_nul_or_a_lone_surrogate_is_refused(title: str) -> None:
    chat = await make_chat(title="before")
    communicator = await authed()

    await communicator.send_to(
        text_data=json.dumps({"event": "rename_chat", "data": {"chat_id": str(chat.pk), "title": title}})
    )

    data = await refused(communicator, "VALIDATION_ERROR")
    assert data["event"] == "rename_chat"
    assert (await Chat.objects.aget(pk=chat.pk)).title == "before"
    await communicator.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        {"event": "list_messages", "data": {"chat_id": "\x00"}},
        {"event": "list\x00chats", "data": {}},
        {"event": "list_chats", "data": {"\ud800": 1}},
    ],
)
async def test_nul_or_a_lone_surrogate_anywhere_in_a_frame_is_refused(frame: dict[str, Any]) -> None:
    communicator = await authed()

    await communicator.send_to(text_data=json.dumps(frame))

    await refused(communicator, "VALIDATION_ERROR")
    await communicator.disconnect()


@pytest.mark.parametrize(
    "credentials", [{"anon_id": "guest\x00guest"}, {"token": "abc\x00"}, {"anon_id": "\ud800" * 9}]
)
async def test_auth_frames_with_nul_or_a_lone_surrogate_are_refused(credentials: dict[str, str]) -> None:
    communicator = await connect()

    await communicator.send_to(text_data=json.dumps({"event": "auth", "data": credentials}))

    data = await refused(communicator, "VALIDATION_ERROR")
    assert data["event"] == "auth"
    assert (await ask(communicator, "list_chats"))["data"]["code"] == "AUTH_REQUIRED"
    await communicator.disconnect()


async def test_a_frame_nested_too_deep_is_refused() -> None:
    communicator = await authed()

    await communicator.send_to(text_data='{"event": "list_chats", "data": ' + "[" * 20_000 + "]" * 20_000 + "}")

    await refused(communicator, "VALIDATION_ERROR")
    await communicator.disconnect()


async def test_a_frame_too_large_is_refused() -> None:
    communicator = await authed()

    await communicator.send_to(text_data=json.dumps({"event": "list_chats", "data": {"pad": "x" * 100_000}}))

    data = await refused(communicator, "PAYLOAD_TOO_LARGE")
    assert data["event"] is None
    await communicator.disconnect()


@pytest.mark.parametrize("payload", [b"\x00\x01\x02", json.dumps({"event": "ping"}).encode()])
async def test_a_binary_frame_gets_a_coded_error(payload: bytes) -> None:
    communicator = await authed()

    await communicator.send_to(bytes_data=payload)

    data = await refused(communicator, "VALIDATION_ERROR")
    assert data["event"] is None
    await communicator.disconnect()


async def test_a_binary_frame_before_auth_gets_a_coded_error() -> None:
    communicator = await connect()

    await communicator.send_to(bytes_data=b"\xff")

    await refused(communicator, "VALIDATION_ERROR")
    reply = await ask(communicator, "auth", {"anon_id": GUEST})
    assert reply["event"] == "usage_info"
    await communicator.disconnect()
