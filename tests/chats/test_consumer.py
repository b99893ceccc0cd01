"""The plain-JSON management socket at /ws/chats/, through the real ASGI application."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chats.models import Chat, Message
from chatsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost:3000")
GUEST = "guest-socket-01"


async def connect(*headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, "/ws/chats/", headers=[ORIGIN, *headers])
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def authed(anon_id: str = GUEST) -> WebsocketCommunicator:
    communicator = await connect((b"x-anon-id", anon_id.encode()))
    assert (await communicator.receive_json_from())["event"] == "usage_info"
    return communicator


async def ask(communicator: WebsocketCommunicator, event: str, data: Any = None) -> dict[str, Any]:
    await communicator.send_json_to({"event": event, "data": data or {}})
    return await communicator.receive_json_from(timeout=5)


@database_sync_to_async
def make_chat(anon_id: str = GUEST, messages: int = 0, title: str = "") -> Chat:
    chat = Chat.objects.create(anon_id=anon_id, model="echo", title=title)
    for position in range(messages):
        role = "user" if position % 2 == 0 else "assistant"
        Message.objects.create(chat=chat, role=role, content=f"m{position}", position=position)
    return chat


async def test_the_first_frame_auth_is_answered_with_usage_info() -> None:
    communicator = await connect()

    reply = await ask(communicator, "auth", {"anon_id": GUEST})

    assert reply == {"event": "usage_info", "data": {"anonymous": True, "used": 0, "limit": 10, "remaining": 10}}
    await communicator.disconnect()


async def test_events_before_auth_are_refused() -> None:
    communicator = await connect()

    reply = await ask(communicator, "list_chats")

    assert reply["event"] == "error"
    assert reply["data"]["code"] == "AUTH_REQUIRED"
    await communicator.disconnect()


async def test_a_bad_token_in_the_auth_frame_closes_the_socket() -> None:
    communicator = await connect()

    reply = await ask(communicator, "auth", {"token": "not-a-jwt"})

    assert reply["data"]["code"] == "TOKEN_INVALID"
    assert (await communicator.receive_output(timeout=2))["type"] == "websocket.close"


async def test_a_user_token_header_identifies_the_user(access_token: str) -> None:
    communicator = await connect((b"authorization", f"Bearer {access_token}".encode()))

    first = await communicator.receive_json_from()

    assert first["event"] == "usage_info"
    assert first["data"]["anonymous"] is False
    assert first["data"]["balance"] == "0.500000"
    await communicator.disconnect()


async def test_list_chats_pages_the_callers_chats_newest_first() -> None:
    older = await make_chat(title="older")
    newer = await make_chat(messages=2, title="newer")
    await make_chat(anon_id="someone-else-1")
    communicator = await authed()

    reply = await ask(communicator, "list_chats", {"page": 0, "limit": 20})

    assert reply["event"] == "chats_list"
    assert reply["data"]["total"] == 2
    assert [chat["id"] for chat in reply["data"]["chats"]] == [str(newer.pk), str(older.pk)]
    assert reply["data"]["chats"][0]["message_count"] == 2
    assert set(reply["data"]["chats"][0]) == {
        "id",
        "title",
        "model",
        "created_at",
        "updated_at",
        "message_count",
        "streaming_message_id",
    }
    assert reply["data"]["chats"][0]["streaming_message_id"] is None
    page = await ask(communicator, "list_chats", {"page": 1, "limit": 1})
    assert [chat["id"] for chat in page["data"]["chats"]] == [str(older.pk)]
    await communicator.disconnect()


async def test_list_messages_page_zero_is_the_latest_in_chronological_order() -> None:
    chat = await make_chat(messages=5)
    communicator = await authed()

    reply = await ask(communicator, "list_messages", {"chat_id": str(chat.pk), "limit": 3})

    assert reply["event"] == "messages_list"
    assert [m["content"] for m in reply["data"]["messages"]] == ["m2", "m3", "m4"]
    assert reply["data"]["total"] == 5
    older = await ask(communicator, "list_messages", {"chat_id": str(chat.pk), "limit": 3, "page": 1})
    assert [m["content"] for m in older["data"]["messages"]] == ["m0", "m1"]
    await communicator.disconnect()


async def test_another_owners_chat_is_not_found() -> None:
    theirs = await make_chat(anon_id="someone-else-1")
    communicator = await authed()

    for event, data in [
        ("list_messages", {"chat_id": str(theirs.pk)}),
        ("rename_chat", {"chat_id": str(theirs.pk), "title": "mine now"}),
        ("delete_chat", {"chat_id": str(theirs.pk)}),
        ("list_messages", {"chat_id": "not-a-uuid"}),
    ]:
        reply = await ask(communicator, event, data)
        assert reply == {"event": "error", "data": {"event": event, "code": "NOT_FOUND", "error": "Chat not found."}}
    assert await Chat.objects.filter(pk=theirs.pk, title="").aexists()
    await communicator.disconnect()


async def test_rename_replies_and_pushes_to_the_other_sockets_of_the_same_identity() -> None:
    chat = await make_chat()
    mine, other_tab = await authed(), await authed()
    stranger = await authed("someone-else-1")

    reply = await ask(mine, "rename_chat", {"chat_id": str(chat.pk), "title": "  Trip plans "})

    assert reply["event"] == "chat_updated"
    assert reply["data"]["chat"]["title"] == "Trip plans"
    pushed = await other_tab.receive_json_from(timeout=5)
    assert pushed == reply
    assert await stranger.receive_nothing(timeout=0.3)
    assert await mine.receive_nothing(timeout=0.3)  # one reply, not a reply and a push
    for communicator in (mine, other_tab, stranger):
        await communicator.disconnect()


async def test_delete_chat_removes_it_and_its_messages() -> None:
    chat = await make_chat(messages=2)
    communicator = await authed()

    reply = await ask(communicator, "delete_chat", {"chat_id": str(chat.pk)})

    assert reply == {"event": "chat_deleted", "data": {"chat_id": str(chat.pk)}}
    assert not await Chat.objects.filter(pk=chat.pk).aexists()
    assert not await Message.objects.filter(chat_id=chat.pk).aexists()
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"event": "list_chats", "data": {"limit": 101}}, "VALIDATION_ERROR"),
        ({"event": "list_chats", "data": {"page": -1}}, "VALIDATION_ERROR"),
        ({"event": "list_chats", "data": {"limit": "20"}}, "VALIDATION_ERROR"),
        ({"event": "list_messages", "data": {"chat_id": None, "limit": 201}}, "VALIDATION_ERROR"),
        ({"event": "rename_chat", "data": {"title": ""}}, "VALIDATION_ERROR"),
        ({"event": "list_chats", "data": [1, 2]}, "VALIDATION_ERROR"),
        ({"event": "__init__", "data": {}}, "UNKNOWN_EVENT"),
        ({"event": "drop_tables"}, "UNKNOWN_EVENT"),
        ({"data": {}}, "VALIDATION_ERROR"),
    ],
)
async def test_bad_frames_get_an_error_with_a_code(frame: dict[str, Any], code: str) -> None:
    await make_chat()
    communicator = await authed()

    await communicator.send_json_to(frame)
    reply = await communicator.receive_json_from(timeout=5)

    assert reply["event"] == "error"
    assert reply["data"]["code"] == code
    assert reply["data"]["event"] == frame.get("event")
    await communicator.disconnect()


async def test_a_frame_that_is_not_json_gets_an_error() -> None:
    communicator = await authed()

    await communicator.send_to(text_data="{nope")
    reply = await communicator.receive_json_from(timeout=5)

    assert reply["data"]["code"] == "VALIDATION_ERROR"
    await communicator.disconnect()


async def test_ping_is_answered_with_pong() -> None:
    communicator = await authed()

    assert await ask(communicator, "ping") == {"event": "pong", "data": {}}
    await communicator.disconnect()


async def test_a_socket_from_a_foreign_origin_is_refused() -> None:
    communicator = WebsocketCommunicator(
        application, "/ws/chats/", headers=[(b"origin", b"https://evil.example"), (b"x-anon-id", GUEST.encode())]
    )

    connected, _ = await communicator.connect()

    assert not connected


async def test_a_send_pushes_chat_created_and_message_created_to_the_socket() -> None:
    from django.test import AsyncClient

    from tests.sse import read_events

    communicator = await authed()

    response = await AsyncClient().post(
        "/api/v1/messages/send",
        data={"content": "hi there"},
        content_type="application/json",
        headers={"x-anon-id": GUEST},
    )
    await read_events(response)

    seen: dict[str, list[dict[str, Any]]] = {}
    while not await communicator.receive_nothing(timeout=1):
        frame = await communicator.receive_json_from()
        seen.setdefault(frame["event"], []).append(frame["data"])
    assert seen["chat_created"][0]["chat"]["model"] == "echo"
    roles = [pushed["message"]["role"] for pushed in seen["message_created"]]
    assert roles == ["user", "assistant"]
    assert seen["usage_info"][-1]["used"] == 1
    assert seen["chat_updated"][-1]["chat"]["title"] == "hi there"  # the generated title
    await communicator.disconnect()


@pytest.mark.parametrize("credentials", [{"anon_id": ["guest-socket-01"]}, {"token": 12345}, {"anon_id": 12345678}])
async def test_credentials_that_are_not_strings_are_refused(credentials: dict[str, Any]) -> None:
    communicator = await connect()

    reply = await ask(communicator, "auth", credentials)

    assert reply["event"] == "error"
    assert reply["data"]["code"] in {"VALIDATION_ERROR", "TOKEN_INVALID"}
    assert (await communicator.receive_output(timeout=2))["type"] == "websocket.close"
