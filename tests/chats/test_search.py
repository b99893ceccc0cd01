"""search_chats on the management socket: the caller's chat titles and every version of every message, from a
full-text index on PostgreSQL and on SQLite (the suite runs on both)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chats.models import Chat, Message
from chats.search import CONTENT_DOCUMENT, TITLE_DOCUMENT, chat_search_for_owner, postgres_query
from chats.services import chat_create, chat_delete
from chatsite.asgi import application
from chatsite.identity import Identity
from tests.conversations import edit, regenerate, say

pytestmark = pytest.mark.django_db(transaction=True)
GUEST = "guest-search-01"
OWNER = Identity(anon_id=GUEST)


async def search(data: Any, anon_id: str = GUEST) -> dict[str, Any]:
    communicator = WebsocketCommunicator(
        application, "/ws/chats/", headers=[(b"origin", b"http://localhost:3000"), (b"x-anon-id", anon_id.encode())]
    )
    assert (await communicator.connect())[0]
    assert (await communicator.receive_json_from())["event"] == "usage_info"
    await communicator.send_json_to({"event": "search_chats", "data": data})
    reply = await communicator.receive_json_from(timeout=5)
    await communicator.disconnect()
    return reply


@database_sync_to_async
def conversation(*turns: str, title: str = "", owner: Identity = OWNER) -> tuple[Chat, list[Message]]:
    """A chat of the given user messages, each answered "Noted." """
    chat = chat_create(identity=owner, model="echo", title=title)
    messages: list[Message] = []
    for text in turns:
        messages.extend(say(chat, messages[-2] if messages else None, text, "Noted."))
    return chat, messages


async def test_it_finds_a_word_that_only_an_earlier_version_of_a_message_holds() -> None:
    chat, (first, _) = await conversation("Plan a weekend trip to Lisbon in spring")
    await database_sync_to_async(edit)(chat, first, "Plan a weekend trip to Porto")
    await conversation("Something else entirely")

    reply = await search({"q": "lisbon"})

    assert reply["event"] == "chats_found"
    assert reply["data"]["q"] == "lisbon"
    [found] = reply["data"]["chats"]
    assert found["id"] == str(chat.pk)
    assert found["message_id"] == str(first.pk)
    assert "Lisbon" in found["snippet"]
    assert found["message_count"] == 2 and found["streaming_message_id"] is None


async def test_it_finds_an_earlier_version_of_an_answer() -> None:
    chat, (_, answer) = await conversation("hello")
    await database_sync_to_async(regenerate)(chat, answer, "a brand new reply about zeppelins")

    assert [c["id"] for c in (await search({"q": "zeppelins"}))["data"]["chats"]] == [str(chat.pk)]
    assert [c["message_id"] for c in (await search({"q": "noted"}))["data"]["chats"]] == [str(answer.pk)]


async def test_a_title_match_ranks_first() -> None:
    by_message, _ = await conversation("Lisbon, Lisbon and Lisbon again: Lisbon")
    by_title, _ = await conversation("Where to eat", title="Lisbon notes")

    chats = (await search({"q": "Lisbon"}))["data"]["chats"]

    assert [chat["id"] for chat in chats] == [str(by_title.pk), str(by_message.pk)]
    assert (chats[0]["snippet"], chats[0]["message_id"]) == ("Lisbon notes", None)


async def test_every_word_must_match_and_a_word_may_be_the_start_of_one() -> None:
    both, _ = await conversation("Trains from Lisbon to Porto")
    await conversation("Trains from Madrid")

    assert [c["id"] for c in (await search({"q": "lisb TRAIN"}))["data"]["chats"]] == [str(both.pk)]
    assert (await search({"q": "lisbonne"}))["data"]["chats"] == []
    assert (await search({"q": "isbon"}))["data"]["chats"] == []  # the start of a word, not any part


async def test_another_owners_chats_never_match() -> None:
    await conversation("My secret plan for Lisbon", owner=Identity(anon_id="someone-else-99"))

    assert (await search({"q": "lisbon"}))["data"]["chats"] == []
    assert (await search({"q": "secret"}, anon_id="someone-else-99"))["data"]["chats"] != []


async def test_a_deleted_chat_is_no_longer_found() -> None:
    chat, _ = await conversation("Lisbon again")
    await database_sync_to_async(chat_delete)(identity=OWNER, chat_id=chat.pk)

    assert (await search({"q": "lisbon"}))["data"]["chats"] == []


async def test_the_limit_bounds_the_chats_found() -> None:
    for index in range(3):
        await conversation(f"Lisbon day {index}")

    assert len((await search({"q": "lisbon", "limit": 2}))["data"]["chats"]) == 2


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"q": ""},
        {"q": "   "},
        {"q": "?!"},
        {"q": 42},
        {"q": "x" * 201},
        {"q": "lisbon", "limit": 0},
        {"q": "lisbon", "limit": 51},
        {"q": "lisbon", "limit": "5"},
    ],
)
async def test_a_bad_query_is_a_validation_error(data: dict[str, Any]) -> None:
    reply = await search(data)

    assert reply["event"] == "error"
    assert (reply["data"]["event"], reply["data"]["code"]) == ("search_chats", "VALIDATION_ERROR")


@pytest.mark.django_db
@pytest.mark.postgres
def test_postgres_matches_against_its_gin_indexes() -> None:
    """The expressions a search matches are the indexed ones, so a large table is never scanned for them."""
    query = postgres_query(["lisbon"])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # as on tables too large to scan
    for model, document, index in [
        (Chat, TITLE_DOCUMENT, "chats_chat_search"),
        (Message, CONTENT_DOCUMENT, "chats_message_search"),
    ]:
        plan = model.objects.annotate(document=document).filter(document=query).explain()
        assert f"Bitmap Index Scan on {index}" in plan, plan


@pytest.mark.django_db
def test_sqlite_answers_a_search_from_its_fts_tables() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the SQLite half of test_postgres_matches_against_its_gin_indexes")
    chat = chat_create(identity=OWNER, model="echo", title="Lisbon")
    say(chat, None, "Lisbon")
    with CaptureQueriesContext(connection) as queries:
        chat_search_for_owner(identity=OWNER, q="lisbon", limit=5)
    matching = [query["sql"] for query in queries if " MATCH " in query["sql"]]
    assert len(matching) == 2  # titles, then messages
    with connection.cursor() as cursor:
        for sql in matching:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
            plan = "\n".join(str(row) for row in cursor.fetchall())
            assert "VIRTUAL TABLE INDEX" in plan, plan


async def test_a_changed_text_is_searched_as_it_now_reads() -> None:
    chat, (_, answer) = await conversation("hello")

    await Message.objects.filter(pk=answer.pk).aupdate(content="Mangoes are ripe")

    assert [c["id"] for c in (await search({"q": "mangoes"}))["data"]["chats"]] == [str(chat.pk)]
    assert (await search({"q": "noted"}))["data"]["chats"] == []
    await Message.objects.filter(pk=answer.pk).aupdate(content="")
    assert (await search({"q": "mangoes"}))["data"]["chats"] == []
    await Chat.objects.filter(pk=chat.pk).aupdate(title="Fruit")
    assert [c["snippet"] for c in (await search({"q": "fruit"}))["data"]["chats"]] == ["Fruit"]
