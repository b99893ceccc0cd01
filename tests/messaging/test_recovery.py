"""Crash recovery in one process: what a dead process left behind is ended and its credit released."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chats.models import Chat, Message
from messaging.recovery import generations_reap
from tests.scrape import moved, parse
from usage.models import Balance, Reservation
from usage.services import balance_reserve, reservation_attach

pytestmark = pytest.mark.django_db(transaction=True)


async def reap() -> int:
    """Two passes of the reaper: with Redis an owner must be missing twice in a row to count as dead."""
    return await generations_reap() + await generations_reap()


@database_sync_to_async
def orphan(user: Any, age_seconds: int, attach: bool = True) -> tuple[Message | None, Any]:
    reservation = balance_reserve(user_id=user.pk, amount=Decimal("0.2"))
    Reservation.objects.filter(pk=reservation).update(created_at=timezone.now() - timedelta(seconds=age_seconds))
    if not attach:
        return None, reservation
    chat = Chat.objects.create(user=user, model="echo")
    Message.objects.create(chat=chat, role="user", content="hi", position=0)
    message = Message.objects.create(chat=chat, role="assistant", status="streaming", content="half", position=1)
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=age_seconds))
    reservation_attach(reservation_id=reservation, message_id=message.pk)
    return message, reservation


async def test_an_answer_nobody_runs_is_failed_and_its_reservation_released(user: Any, settings: Any) -> None:
    settings.GENERATION_ORPHAN_SECONDS = 5
    message, reservation = await orphan(user, age_seconds=60)
    assert message is not None

    assert await reap() == 1

    stored = await Message.objects.aget(pk=message.pk)
    assert (stored.status, stored.error_code, stored.content) == ("failed", "GENERATION_LOST", "half")
    assert (await Reservation.objects.aget(pk=reservation)).status == "released"
    assert (await Balance.objects.aget(user=user)).reserved == 0


async def test_a_reaped_answer_is_counted_as_a_failed_generation(user: Any, settings: Any, async_client: Any) -> None:
    settings.GENERATION_ORPHAN_SECONDS = 5
    before = parse((await async_client.get("/metrics")).content.decode())
    await orphan(user, age_seconds=60)

    assert await reap() == 1

    after = parse((await async_client.get("/metrics")).content.decode())
    assert moved(before, after, "chatsite_generations_total", outcome="failed", code="GENERATION_LOST") == 1


async def test_a_young_answer_is_left_alone(user: Any, settings: Any) -> None:
    settings.GENERATION_ORPHAN_SECONDS = 30
    message, _ = await orphan(user, age_seconds=1)
    assert message is not None

    assert await reap() == 0

    assert (await Message.objects.aget(pk=message.pk)).status == "streaming"


async def test_credit_held_for_a_send_that_never_started_is_released(user: Any, settings: Any) -> None:
    settings.GENERATION_ORPHAN_SECONDS = 5
    _, reservation = await orphan(user, age_seconds=60, attach=False)

    await reap()

    assert (await Reservation.objects.aget(pk=reservation)).status == "released"
    assert (await Balance.objects.aget(user=user)).reserved == 0


async def test_a_reader_of_a_lost_answer_gets_its_end_once(user: Any, access_token: str, settings: Any) -> None:
    from django.test import AsyncClient

    from tests.sse import names, read_events

    settings.GENERATION_ORPHAN_SECONDS = 5
    message, _ = await orphan(user, age_seconds=60)
    assert message is not None
    await reap()
    headers = {"Authorization": f"Bearer {access_token}", "Last-Event-ID": "3"}

    replay = await read_events(await AsyncClient().get(f"/api/v1/messages/{message.pk}/stream", headers=headers))
    again = await AsyncClient().get(
        f"/api/v1/messages/{message.pk}/stream", headers={**headers, "Last-Event-ID": str(replay[-1].id)}
    )

    assert names(replay)[-1] == "assistant_error"
    assert replay[-1].data["code"] == "GENERATION_LOST"
    assert (await Message.objects.aget(pk=message.pk)).content == "half"
    assert again.status_code == 204  # so an EventSource stops reconnecting


async def test_a_lost_guest_answer_with_no_text_gives_the_free_message_back(settings: Any) -> None:
    from usage.models import AnonUsage

    settings.GENERATION_ORPHAN_SECONDS = 5

    @database_sync_to_async
    def lost_guest_answer() -> None:
        AnonUsage.objects.create(anon_id="guest-lost-001", used=3)
        chat = Chat.objects.create(anon_id="guest-lost-001", model="echo")
        Message.objects.create(chat=chat, role="user", content="hi", position=0)
        message = Message.objects.create(chat=chat, role="assistant", status="streaming", position=1)
        Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=60))

    await lost_guest_answer()

    await reap()

    assert (await AnonUsage.objects.aget(pk="guest-lost-001")).used == 2


@pytest.mark.redis
async def test_a_reader_of_a_log_that_never_got_its_end_finishes_from_the_database(settings: Any) -> None:
    import json

    from django.test import AsyncClient

    from chatsite.redis import redis_client, redis_key
    from tests.sse import names, read_events

    settings.SSE_PING_SECONDS = 0.2

    @database_sync_to_async
    def finished_answer() -> Message:
        chat = Chat.objects.create(anon_id="guest-nolog-01", model="echo")
        Message.objects.create(chat=chat, role="user", content="hi", position=0)
        return Message.objects.create(
            chat=chat, role="assistant", status="complete", content="all of it", position=1, last_event_id=5
        )

    message = await finished_answer()
    typing = [1, "assistant_typing", {"chat_id": str(message.chat_id), "message_id": str(message.pk)}, False]
    await redis_client().xadd(redis_key("stream", str(message.pk)), {"e": json.dumps([typing])})

    events = await read_events(
        await AsyncClient().get(f"/api/v1/messages/{message.pk}/stream", headers={"x-anon-id": "guest-nolog-01"})
    )

    assert names(events) == ["assistant_typing", "assistant_delta", "assistant_complete"]
    assert events[1].data["delta"] == "all of it"


async def test_an_answer_that_ends_after_the_reaper_failed_it_keeps_the_reapers_end(user: Any, settings: Any) -> None:
    """A generation taken for dead (its process was only slow) that finishes later must not overwrite the
    stored end, nor charge again: it reports what is stored."""
    from chatsite.identity import Identity
    from messaging.models import LanguageModel
    from messaging.services import Ending, generation_finish
    from usage.services import QuotaHold

    settings.GENERATION_ORPHAN_SECONDS = 5
    message, reservation = await orphan(user, age_seconds=60)
    assert message is not None
    assert await reap() == 1
    model = await LanguageModel.objects.aget(name="echo")

    finished = await database_sync_to_async(generation_finish)(
        message_id=message.pk,
        model=model,
        identity=Identity(user_id=user.pk),
        hold=QuotaHold(reservation_id=reservation),
        ending=Ending(content="half and the rest", status="complete"),
        prompt_estimate=3,
    )

    assert (finished.message["status"], finished.message["content"]) == ("failed", "half")
    assert finished.usage["cost"] == "0.000000"
    stored = await Message.objects.aget(pk=message.pk)
    assert (stored.status, stored.content) == ("failed", "half")


def test_a_user_without_a_balance_row_is_refused_not_crashed(db: Any) -> None:
    from django.contrib.auth import get_user_model

    from chatsite.errors import InsufficientBalance

    account = get_user_model().objects.create_user(username="no-balance", password=None)  # not through sign-up

    with pytest.raises(InsufficientBalance):
        balance_reserve(user_id=account.pk, amount=Decimal("0.01"))
