"""The finer points of the streaming contract: test-sse, pings, limits, the catalog and the prompt."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient

from chats.models import Chat, Message
from chats.search import chat_search_for_owner
from chatsite.identity import Identity
from messaging.prompts import prompt_messages
from tests.sse import names, read_events

pytestmark = pytest.mark.django_db(transaction=True)
GUEST = {"x-anon-id": "guest-details-1"}


async def send(body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    return await AsyncClient().post(
        "/api/v1/messages/send",
        data=json.dumps(body),
        content_type="application/json",
        headers=GUEST if headers is None else headers,
    )


@pytest.mark.parametrize("method", ["get", "post"])
async def test_test_sse_sends_the_seeds_test_events(method: str) -> None:
    response = await getattr(AsyncClient(), method)("/api/v1/messages/test-sse?count=3")

    events = await read_events(response)

    assert names(events) == ["test_message"] * 3 + ["test_complete"]
    assert [event.data["counter"] for event in events[:3]] == [1, 2, 3]
    assert all(isinstance(event.data["message"], str) for event in events)


async def test_test_sse_refuses_a_count_over_100() -> None:
    response = await AsyncClient().get("/api/v1/messages/test-sse?count=101")

    assert response.status_code == 400
    assert (await read_events(response))[0].data["code"] == "VALIDATION_ERROR"


async def test_a_quiet_stream_sends_ping_comments(fake_model: Any, settings: Any) -> None:
    settings.SSE_PING_SECONDS = 0.1
    await database_sync_to_async(fake_model)(upstream_model="fake:first_delay_ms=500:tokens=2")
    response = await send({"model": "fake", "content": "hi"})

    chunks = [chunk async for chunk in response.streaming_content]

    assert b": ping\n\n" in chunks
    assert chunks.index(b": ping\n\n") > 0  # after assistant_typing, while the upstream is silent


async def test_max_tokens_is_capped_at_the_models_limit(fake_model: Any, upstream: Any) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=2", max_output_tokens=50)

    await read_events(await send({"model": "fake", "content": "cap me", "max_tokens": 5000, "temperature": 0.3}))

    sent = upstream.request_with("cap me").body
    assert sent["max_tokens"] == 50
    assert sent["temperature"] == 0.3


async def test_content_over_the_size_limit_is_refused(settings: Any) -> None:
    settings.MAX_MESSAGE_CHARS = 10

    response = await send({"content": "x" * 11})

    assert response.status_code == 413
    assert (await read_events(response))[0].data["code"] == "CONTENT_TOO_LONG"
    assert not await Chat.objects.aexists()


async def test_a_model_not_open_to_guests_is_refused_to_them(fake_model: Any, access_token: str) -> None:
    await database_sync_to_async(fake_model)(name="members", anonymous_allowed=False)

    guest = await send({"model": "members", "content": "hi"})
    member = await send({"model": "members", "content": "hi"}, {"Authorization": f"Bearer {access_token}"})

    assert guest.status_code == 403
    assert (await read_events(guest))[0].data["code"] == "MODEL_NOT_ALLOWED"
    assert member.status_code == 200
    await read_events(member)


async def test_a_chat_of_someone_else_is_not_found() -> None:
    chat_id = (await read_events(await send({"content": "mine"})))[0].data["chat_id"]

    response = await send({"chat_id": chat_id, "content": "theirs?"}, {"x-anon-id": "someone-else-01"})

    assert response.status_code == 404
    assert (await read_events(response))[0].data["code"] == "NOT_FOUND"
    assert await Message.objects.acount() == 2


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        ({"content": ""}, GUEST, 400, "VALIDATION_ERROR"),
        ({"content": 5}, GUEST, 400, "VALIDATION_ERROR"),
        ({"content": "hi", "temperature": 3}, GUEST, 400, "VALIDATION_ERROR"),
        ({"content": "hi", "max_tokens": 0}, GUEST, 400, "VALIDATION_ERROR"),
        ({"content": "hi"}, {}, 401, "AUTH_REQUIRED"),
        ({"content": "hi"}, {"x-anon-id": "short"}, 400, "VALIDATION_ERROR"),
        ({"content": "hi"}, {"Authorization": "Bearer nope"}, 401, "TOKEN_INVALID"),
    ],
)
async def test_bad_sends_get_a_status_and_a_code(
    body: dict[str, Any], headers: dict[str, str], status: int, code: str
) -> None:
    response = await send(body, headers)

    assert response.status_code == status
    assert [event.data["code"] for event in await read_events(response)] == [code]


async def test_the_catalog_lists_what_the_caller_may_use(fake_model: Any, access_token: str) -> None:
    await database_sync_to_async(fake_model)(name="members", anonymous_allowed=False, input_price=Decimal("2.5"))
    await database_sync_to_async(fake_model)(name="retired", enabled=False)

    guest = (await AsyncClient().get("/api/v1/models")).json()["models"]
    member = (await AsyncClient().get("/api/v1/models", headers={"Authorization": f"Bearer {access_token}"})).json()

    assert [model["name"] for model in guest] == ["echo"]
    assert [model["name"] for model in member["models"]] == ["echo", "members"]
    assert member["models"][1]["input_price"] == "2.500000"
    assert member["models"][0]["default"] is True


def test_the_prompt_keeps_the_newest_turns_that_fit_the_budget(settings: Any) -> None:
    settings.HISTORY_TOKEN_BUDGET, settings.SYSTEM_PROMPT = 40, "Be brief."
    history = [
        Message(role="user" if i % 2 == 0 else "assistant", content=f"turn {i} " + "x" * 40, position=i)
        for i in range(6)
    ]

    messages, estimate = prompt_messages(history, "now")

    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[-1] == {"role": "user", "content": "now"}
    assert [m["content"][:6] for m in messages[1:-1]] == ["turn 5"]
    assert estimate <= 40


async def test_an_unreachable_upstream_is_an_upstream_error(fake_model: Any) -> None:
    await database_sync_to_async(fake_model)(base_url="http://127.0.0.1:9/v1")

    events = await read_events(await send({"model": "fake", "content": "hi"}))

    assert events[-1].name == "assistant_error"
    assert events[-1].data["code"] == "UPSTREAM_ERROR"


async def test_an_answer_of_over_a_megabyte_is_stored_whole_and_searched_by_its_start(fake_model: Any) -> None:
    """PostgreSQL cannot index a text of over 1 MB as one search document: the answer must be stored anyway
    (complete, every character) and still be found by the words at its start."""
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=600:word_chars=2000", max_output_tokens=1000)

    got = names(await read_events(await send({"model": "fake", "content": "a long one please"})))

    assert got[-2:] == ["assistant_complete", "usage_info"]
    answer = await Message.objects.filter(role=Message.Role.ASSISTANT).aget()
    assert answer.status == Message.Status.COMPLETE
    assert len(answer.content) >= 600 * 2000
    assert answer.content.startswith("tok0xx") and "tok599" in answer.content
    _, found = await database_sync_to_async(chat_search_for_owner)(
        identity=Identity(anon_id=GUEST["x-anon-id"]), q="tok0", limit=5
    )
    assert [chat["id"] for chat in found] == [str(answer.chat_id)]
