"""POST /api/v1/messages/regenerate: a new version of an answer, from the history up to its turn."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from chats.models import Message
from chats.protocol import list_messages
from chatsite.identity import Identity
from tests.sse import joined_deltas, names, read_events

pytestmark = pytest.mark.django_db(transaction=True)
GUEST = "guest-regen-01"


async def post(path: str, body: dict[str, Any], anon_id: str = GUEST) -> Any:
    return await AsyncClient().post(
        path, data=json.dumps(body), content_type="application/json", headers={"x-anon-id": anon_id}
    )


async def test_regenerate_streams_a_new_version_and_keeps_the_old_one(fake_model: Any, upstream: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:echo")
    first = await read_events(await post("/api/v1/messages/send", {"model": "fake", "content": "one two"}))
    chat_id, old_id = first[0].data["chat_id"], first[0].data["message_id"]
    await read_events(await post("/api/v1/messages/send", {"chat_id": chat_id, "content": "three four"}))

    events = await read_events(await post("/api/v1/messages/regenerate", {"message_id": old_id}))

    assert names(events)[0] == "assistant_regenerating"
    assert events[0].data["replaces"] == old_id
    assert names(events)[-2:] == ["assistant_regenerated", "usage_info"]
    regenerated = events[-2].data["message"]
    assert (regenerated["version"], regenerated["versions"], regenerated["status"]) == (2, 2, "complete")
    new = await Message.objects.aget(pk=events[0].data["message_id"])
    assert new.content == joined_deltas(events) == "one two"
    assert (new.position, new.version, new.is_current) == (1, 2, True)
    old = await Message.objects.aget(pk=old_id)
    assert old.is_current is False and old.content == "one two"
    sent = upstream.request_with("one two").body["messages"]
    assert [m["content"] for m in sent] == ["one two"]  # only the history up to that turn
    listing = await database_sync_to_async(list_messages)(Identity(anon_id=GUEST), {"chat_id": chat_id})
    assert [(m["role"], m["versions"]) for m in listing.data["messages"]] == [
        ("user", 1),
        ("assistant", 2),
        ("user", 1),
        ("assistant", 1),
    ]
    assert listing.data["messages"][1]["id"] == str(new.pk)


async def test_regenerating_a_user_message_is_refused() -> None:
    first = await read_events(await post("/api/v1/messages/send", {"content": "hello"}))

    response = await post("/api/v1/messages/regenerate", {"message_id": first[0].data["user_message_id"]})

    assert response.status_code == 400
    assert (await read_events(response))[0].data["code"] == "VALIDATION_ERROR"


async def test_regenerating_someone_elses_message_is_not_found() -> None:
    first = await read_events(await post("/api/v1/messages/send", {"content": "hello"}))

    response = await post("/api/v1/messages/regenerate", {"message_id": first[0].data["message_id"]}, "other-guest-1")

    assert response.status_code == 404
    assert (await read_events(response))[0].data["code"] == "NOT_FOUND"
    assert await Message.objects.acount() == 2
