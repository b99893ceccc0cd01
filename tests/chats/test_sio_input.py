"""Hostile Socket.IO packets get a coded error (emitted, and acknowledged when an ack was asked for), and the
socket stays open; none reaches a handler it was not meant for."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chats.models import Chat
from tests.chats.raw_sio import RawSocketIO
from tests.chats.test_consumer import GUEST, make_chat

pytestmark = pytest.mark.django_db(transaction=True)


async def opened() -> RawSocketIO:
    client = RawSocketIO()
    packets = await client.open({"anon_id": GUEST})
    assert [packet[:2] for packet in packets] == [["event", "usage_info"], ["connect", packets[-1][1]]]
    return client


async def still_answers(client: RawSocketIO) -> None:
    _, ack = await client.event("usage_info", {})
    assert ack["event"] == "usage_info"


def refused(emitted: list[Any], ack: dict[str, Any], code: str) -> dict[str, Any]:
    assert emitted[:2] == ["event", "error"], emitted
    assert ack == {"event": "error", "data": emitted[2]}
    assert ack["data"]["code"] == code, ack
    assert ack["data"]["error"]
    return dict(ack["data"])


@pytest.mark.parametrize("title", ["a\x00b", "lone \ud800"])
async def test_a_title_with_nul_or_a_lone_surrogate_is_refused(title: str) -> None:
    chat = await make_chat(title="before")
    client = await opened()

    emitted, ack = await client.event("rename_chat", {"chat_id": str(chat.pk), "title": title})

    assert refused(emitted, ack, "VALIDATION_ERROR")["event"] == "rename_chat"
    assert (await Chat.objects.aget(pk=chat.pk)).title == "before"
    await still_answers(client)
    await client.close()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('["list_chats", ' + "[" * 20_000 + "]" * 20_000 + "]", "VALIDATION_ERROR"),
        (json.dumps(["list_chats", {"pad": "x" * 100_000}]), "PAYLOAD_TOO_LARGE"),
        ('["list_chats", {"limit": NaN}]', "VALIDATION_ERROR"),
        ("[not json", "VALIDATION_ERROR"),
        ("[]", "VALIDATION_ERROR"),
        ('{"event": "list_chats"}', "VALIDATION_ERROR"),
        ("[42, {}]", "VALIDATION_ERROR"),
        ('["list\\u0000chats", {}]', "VALIDATION_ERROR"),
        ('["connect", {"HTTP_X_ANON_ID": "someone-else-1"}]', "VALIDATION_ERROR"),
        ('["disconnect"]', "VALIDATION_ERROR"),
        ('["*", {}]', "VALIDATION_ERROR"),
    ],
)
async def test_a_hostile_event_packet_gets_a_coded_answer(body: str, code: str) -> None:
    client = await opened()

    emitted, ack = await client.packet(body)

    refused(emitted, ack, code)
    await still_answers(client)
    await client.close()


@pytest.mark.parametrize("prefix", ["43", "44", "45", "46", "49"])
async def test_packets_a_client_must_not_send_get_a_coded_error(prefix: str) -> None:
    client = await opened()

    await client.communicator.send_to(text_data=f"{prefix}/chats,[1]")

    emitted = client.decode(await client.receive())
    assert emitted[:2] == ["event", "error"]
    assert emitted[2]["code"] == "VALIDATION_ERROR"
    await still_answers(client)
    await client.close()


async def test_extra_arguments_are_ignored() -> None:
    client = await opened()

    _, ack = await client.packet(json.dumps(["list_chats", {"limit": 1}, "extra", 3]))

    assert ack["event"] == "chats_list"
    await client.close()


@pytest.mark.parametrize(
    "raw_auth",
    [json.dumps({"anon_id": "guest\x00guest"}), json.dumps({"token": "\ud800"}), "[" * 20_000 + "]" * 20_000, "{nope"],
)
async def test_a_hostile_handshake_is_refused_with_a_code(raw_auth: str) -> None:
    client = RawSocketIO()

    answer = (await client.open(raw_auth=raw_auth))[-1]

    assert answer[0] == "connect_error"
    assert answer[1]["data"]["code"] == "VALIDATION_ERROR"
    await client.close()
