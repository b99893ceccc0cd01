"""POST /api/v1/messages/edit, GET …/versions and POST …/select: a new version of a user turn is a new branch,
answered like a send; every version stays reachable."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from chats.models import Message
from tests.sse import joined_deltas, names, read_events
from tests.waiting import message_finished
from usage.models import AnonUsage

pytestmark = pytest.mark.django_db(transaction=True)
GUEST = "guest-edit-0001"


async def post(path: str, body: dict[str, Any], anon_id: str = GUEST, **headers: str) -> Any:
    return await AsyncClient().post(
        path, data=json.dumps(body), content_type="application/json", headers={"x-anon-id": anon_id, **headers}
    )


async def three_turns(model: str = "fake") -> tuple[str, list[str]]:
    """A chat of three turns; its id and the ids of its user messages."""
    chat_id, users = None, []
    for text in ("one", "two", "three"):
        body = {"content": text, "model": model, **({"chat_id": chat_id} if chat_id else {})}
        events = await read_events(await post("/api/v1/messages/send", body))
        chat_id = events[0].data["chat_id"]
        users.append(events[0].data["user_message_id"])
    assert chat_id is not None
    return chat_id, users


async def test_an_edit_streams_like_a_send_and_prompts_only_its_branch(fake_model: Any, upstream: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:echo")
    _, (first, second, _) = await three_turns()

    events = await read_events(await post("/api/v1/messages/edit", {"message_id": second, "content": "TWO again"}))

    assert names(events)[0] == "assistant_typing"
    assert names(events)[-2:] == ["assistant_complete", "usage_info"]
    assert [event.id for event in events] == list(range(1, len(events) + 1))
    typing, complete = events[0].data, events[-2].data
    edited = await Message.objects.aget(pk=typing["user_message_id"])
    assert (edited.content, edited.parent_id, edited.position, edited.version) == ("TWO again", UUID(first), 2, 2)
    assert joined_deltas(events) == complete["message"]["content"] == "TWO again"
    assert (complete["message"]["version"], complete["message"]["reply_to_id"]) == (1, str(edited.pk))
    sent = upstream.request_with("TWO again").body["messages"]
    assert [m["content"] for m in sent] == ["one", "one", "TWO again"]  # never "three", nor the old "two"
    assert events[-1].data["used"] == 4  # an edit counts like a send


async def test_editing_the_first_message_prompts_it_alone(fake_model: Any, upstream: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:echo")
    _, (first, _, _) = await three_turns()

    await read_events(await post("/api/v1/messages/edit", {"message_id": first, "content": "ONE"}))

    assert [m["content"] for m in upstream.request_with("ONE").body["messages"]] == ["ONE"]
    listing = await AsyncClient().get(f"/api/v1/messages/{first}/versions", headers={"x-anon-id": GUEST})
    assert [v["content"] for v in listing.json()["versions"]] == ["one", "ONE"]


async def test_versions_and_select_over_http(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:echo")
    chat_id, (first, second, third) = await three_turns()
    edit = await read_events(await post("/api/v1/messages/edit", {"message_id": second, "content": "TWO"}))

    versions = await AsyncClient().get(f"/api/v1/messages/{second}/versions", headers={"x-anon-id": GUEST})
    selected = await post(f"/api/v1/messages/{second}/select", {})

    assert versions.status_code == 200
    body = versions.json()
    assert [(v["id"], v["version"], v["versions"]) for v in body["versions"]] == [
        (second, 1, 2),
        (edit[0].data["user_message_id"], 2, 2),
    ]
    assert (body["message_id"], body["current"]) == (second, edit[0].data["user_message_id"])
    assert selected.status_code == 200
    branch = selected.json()
    assert [m["content"] for m in branch["messages"]] == ["one", "one", "two", "two", "three", "three"]
    assert (branch["chat_id"], branch["total"]) == (chat_id, 6)
    assert [m["id"] for m in branch["messages"] if m["role"] == "user"] == [first, second, third]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"content": "x"}, 400, "VALIDATION_ERROR"),
        ({"message_id": "answer", "content": "x"}, 400, "VALIDATION_ERROR"),
        ({"message_id": "user", "content": "  "}, 400, "VALIDATION_ERROR"),
        ({"message_id": "user"}, 400, "VALIDATION_ERROR"),
        ({"message_id": "user", "content": "x" * 32001}, 413, "CONTENT_TOO_LONG"),
        ({"message_id": "00000000-0000-0000-0000-000000000000", "content": "x"}, 404, "NOT_FOUND"),
        ({"message_id": "not-a-uuid", "content": "x"}, 404, "NOT_FOUND"),
    ],
)
async def test_a_bad_edit_is_refused_before_anything_is_written(body: dict[str, Any], status: int, code: str) -> None:
    events = await read_events(await post("/api/v1/messages/send", {"content": "hello"}))
    ids = {"user": events[0].data["user_message_id"], "answer": events[0].data["message_id"]}
    body = {**body, **({"message_id": ids[body["message_id"]]} if body.get("message_id") in ids else {})}

    response = await post("/api/v1/messages/edit", body)

    assert response.status_code == status
    assert [event.data["code"] for event in await read_events(response)] == [code]
    assert await Message.objects.acount() == 2
    assert (await AnonUsage.objects.aget(anon_id=GUEST)).used == 1


async def test_another_callers_message_is_not_found() -> None:
    events = await read_events(await post("/api/v1/messages/send", {"content": "hello"}))
    user_message = events[0].data["user_message_id"]

    edit = await post("/api/v1/messages/edit", {"message_id": user_message, "content": "mine"}, "stranger-0001")
    versions = await AsyncClient().get(
        f"/api/v1/messages/{user_message}/versions", headers={"x-anon-id": "stranger-0001"}
    )
    select = await post(f"/api/v1/messages/{user_message}/select", {}, "stranger-0001")

    assert [edit.status_code, versions.status_code, select.status_code] == [404, 404, 404]
    assert versions.json()["code"] == select.json()["code"] == "NOT_FOUND"
    assert await Message.objects.acount() == 2


async def test_an_edit_or_a_select_while_the_chat_answers_is_refused(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=2000:delay_ms=10")  # runs until stopped
    first = await read_events(await post("/api/v1/messages/send", {"content": "hello"}))
    user_message = first[0].data["user_message_id"]
    body = {"content": "more", "chat_id": first[0].data["chat_id"], "model": "fake"}
    running = await post("/api/v1/messages/send", body)
    started = await read_events(running, limit=2)

    edit = await post("/api/v1/messages/edit", {"message_id": user_message, "content": "HELLO"})
    select = await post(f"/api/v1/messages/{user_message}/select", {})

    assert (edit.status_code, (await read_events(edit))[0].data["code"]) == (409, "GENERATION_IN_PROGRESS")
    assert (select.status_code, select.json()["code"]) == (409, "GENERATION_IN_PROGRESS")
    assert await Message.objects.filter(content="HELLO").acount() == 0
    stop = f"/api/v1/messages/{started[0].data['message_id']}/stop"
    assert (await AsyncClient().post(stop, headers={"x-anon-id": GUEST})).status_code == 202


async def test_a_retried_edit_replays_the_first_one_and_a_different_body_is_refused(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:echo")
    _, (first, _, _) = await three_turns()
    body = {"message_id": first, "content": "ONE", "client_message_id": "edit-key-1"}

    once = await read_events(await post("/api/v1/messages/edit", body))
    again = await read_events(await post("/api/v1/messages/edit", body))
    other = await post("/api/v1/messages/edit", {**body, "content": "ONE!"})

    assert again == once
    assert (other.status_code, (await read_events(other))[0].data["code"]) == (422, "IDEMPOTENCY_MISMATCH")
    assert await Message.objects.filter(role="user", content="ONE").acount() == 1


async def test_an_edit_can_be_stopped(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=2000:delay_ms=10")
    first = await read_events(await post("/api/v1/messages/send", {"content": "hello"}))
    body = {"message_id": first[0].data["user_message_id"], "content": "HI", "model": "fake"}
    response = await post("/api/v1/messages/edit", body)
    seen = await read_events(response, limit=3)

    await AsyncClient().post(f"/api/v1/messages/{seen[0].data['message_id']}/stop", headers={"x-anon-id": GUEST})
    rest = await asyncio.wait_for(read_events(response), timeout=10)

    assert rest[-2].data["message"]["status"] == "stopped"
    assert (await message_finished(seen[0].data["message_id"])).content == joined_deltas(seen + rest)


async def test_two_parallel_edits_of_one_message_let_one_through(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:echo")
    first = await read_events(await post("/api/v1/messages/send", {"model": "fake", "content": "start"}))
    user_message = first[0].data["user_message_id"]
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=1000:delay_ms=20")  # outlasts both starts

    responses = await asyncio.gather(
        *(post("/api/v1/messages/edit", {"message_id": user_message, "content": f"edit {i}"}) for i in range(2))
    )

    assert sorted(r.status_code for r in responses) == [200, 409]
    running = next(r for r in responses if r.status_code == 200)
    answer = (await read_events(running, limit=1))[0].data["message_id"]
    await AsyncClient().post(f"/api/v1/messages/{answer}/stop", headers={"x-anon-id": GUEST})
    await read_events(running)
    versions = await AsyncClient().get(f"/api/v1/messages/{user_message}/versions", headers={"x-anon-id": GUEST})
    assert [v["version"] for v in versions.json()["versions"]] == [1, 2]
    assert (await AnonUsage.objects.aget(anon_id=GUEST)).used == 2  # the refused edit gave its free message back


async def test_regenerating_an_answer_of_a_branch_not_shown_shows_that_branch_in_every_tab(fake_model: Any) -> None:
    from channels.testing import WebsocketCommunicator

    from chatsite.asgi import application

    await database_sync_to_async(fake_model)(upstream_model="fake:echo")
    _, (first, _, _) = await three_turns()
    old_answer = (await Message.objects.aget(reply_to_id=first)).pk
    await read_events(await post("/api/v1/messages/edit", {"message_id": first, "content": "ONE"}))
    tab = WebsocketCommunicator(
        application, "/ws/chats/", headers=[(b"origin", b"http://localhost:3000"), (b"x-anon-id", GUEST.encode())]
    )
    assert (await tab.connect())[0]

    events = await read_events(await post("/api/v1/messages/regenerate", {"message_id": str(old_answer)}))

    pushed = []
    while not await tab.receive_nothing(timeout=0.5):
        pushed.append(await tab.receive_json_from())
    [branch] = [frame["data"] for frame in pushed if frame["event"] == "messages_list"]
    assert [m["content"] for m in branch["messages"] if m["role"] == "user"] == ["one", "two", "three"]
    assert branch["messages"][1]["id"] == events[0].data["message_id"]
    await tab.disconnect()
