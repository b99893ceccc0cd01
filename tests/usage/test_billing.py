"""Credit balances: reserve before, settle exactly once after, never below zero."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import IntegrityError
from django.test import AsyncClient

from chats.models import Message
from chatsite.asgi import application
from tests.sse import joined_deltas, names, read_events
from tests.waiting import message_finished
from usage.models import Balance, LedgerEntry, Reservation
from usage.selectors import ledger_mismatches
from usage.services import balance_grant, balance_reserve, reservation_settle

pytestmark = pytest.mark.django_db(transaction=True)
PRICES = {"input_price": Decimal(1000), "output_price": Decimal(2000), "max_output_tokens": 100}


async def send(token: str, body: dict[str, Any]) -> Any:
    return await AsyncClient().post(
        "/api/v1/messages/send",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_an_answer_is_charged_for_the_tokens_the_upstream_reports(
    fake_model: Any, user: Any, access_token: str
) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=10", **PRICES)

    events = await read_events(await send(access_token, {"model": "fake", "content": "hello"}))

    complete = events[-2].data
    usage = complete["usage"]
    expected = (Decimal(usage["prompt_tokens"]) * 1000 + Decimal(usage["completion_tokens"]) * 2000) / 1_000_000
    assert usage["completion_tokens"] == 10
    assert Decimal(usage["cost"]) == expected
    charge = await LedgerEntry.objects.aget(user=user, kind="charge")
    assert charge.amount == -expected
    assert str(charge.message_id) == complete["message_id"]
    balance = await Balance.objects.aget(user=user)
    assert balance.balance == Decimal("0.5") - expected and balance.reserved == 0
    assert events[-1].data == {
        "anonymous": False,
        "balance": str(balance.balance),
        "reserved": "0.000000",
        "available": str(balance.balance),
    }
    assert await database_sync_to_async(ledger_mismatches)() == []


async def test_a_failure_before_the_first_token_charges_nothing(fake_model: Any, user: Any, access_token: str) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:status=500", **PRICES)

    events = await read_events(await send(access_token, {"model": "fake", "content": "hello"}))

    assert events[-1].data["code"] == "UPSTREAM_ERROR"
    balance = await Balance.objects.aget(user=user)
    assert balance.balance == Decimal("0.5") and balance.reserved == 0
    assert not await LedgerEntry.objects.filter(kind="charge").aexists()
    assert await Reservation.objects.filter(status="released").acount() == 1


async def test_a_client_that_leaves_mid_answer_is_charged_once_for_what_was_generated(
    fake_model: Any, user: Any, access_token: str
) -> None:
    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=30:delay_ms=10", **PRICES)
    response = await send(access_token, {"model": "fake", "content": "hello"})

    first = await read_events(response, limit=5)  # typing and four deltas, then the client goes away
    await response.streaming_content.aclose()

    message = await message_finished(first[0].data["message_id"])
    assert message.status == "complete" and message.completion_tokens == 30
    assert message.content.startswith(joined_deltas(first))
    charges = [entry async for entry in LedgerEntry.objects.filter(kind="charge")]
    assert len(charges) == 1 and charges[0].amount == -message.cost
    assert (await Balance.objects.aget(user=user)).balance == Decimal("0.5") - message.cost


async def test_a_send_the_balance_cannot_cover_is_refused_and_pushed_to_the_socket(
    fake_model: Any, user: Any, access_token: str
) -> None:
    await database_sync_to_async(fake_model)(**{**PRICES, "output_price": Decimal(10_000_000)})
    socket = WebsocketCommunicator(
        application,
        "/ws/chats/",
        headers=[(b"origin", b"http://localhost:3000"), (b"authorization", f"Bearer {access_token}".encode())],
    )
    await socket.connect()
    await socket.receive_json_from()  # usage_info on connect

    response = await send(access_token, {"model": "fake", "content": "hello"})

    assert response.status_code == 402
    assert names(await read_events(response)) == ["assistant_error"]
    pushed = await socket.receive_json_from(timeout=5)
    assert pushed["event"] == "assistant_error"
    assert pushed["data"]["code"] == "INSUFFICIENT_BALANCE"
    assert not await Message.objects.aexists()
    assert (await Balance.objects.aget(user=user)).reserved == 0
    await socket.disconnect()


async def test_a_free_model_reserves_and_charges_nothing(user: Any, access_token: str) -> None:
    events = await read_events(await send(access_token, {"content": "hello"}))

    assert events[-2].data["usage"]["cost"] == "0.000000"
    assert not await Reservation.objects.aexists()
    assert (await Balance.objects.aget(user=user)).balance == Decimal("0.5")


@pytest.mark.django_db
def test_settling_a_reservation_twice_charges_once(user: Any) -> None:
    reservation = balance_reserve(user_id=user.pk, amount=Decimal("0.2"))

    first = reservation_settle(reservation_id=reservation, cost=Decimal("0.15"))
    second = reservation_settle(reservation_id=reservation, cost=Decimal("0.15"))

    assert (first, second) == (Decimal("0.15"), Decimal("0"))
    assert Balance.objects.get(user=user).balance == Decimal("0.35")
    assert LedgerEntry.objects.filter(kind="charge").count() == 1


@pytest.mark.django_db
def test_a_charge_never_exceeds_its_reservation(user: Any) -> None:
    reservation = balance_reserve(user_id=user.pk, amount=Decimal("0.1"))

    charged = reservation_settle(reservation_id=reservation, cost=Decimal("5"))

    assert charged == Decimal("0.1")
    assert Balance.objects.get(user=user).balance == Decimal("0.4")


@pytest.mark.django_db
def test_reservations_never_exceed_the_available_balance(user: Any) -> None:
    balance_reserve(user_id=user.pk, amount=Decimal("0.3"))

    from chatsite.errors import InsufficientBalance

    with pytest.raises(InsufficientBalance):
        balance_reserve(user_id=user.pk, amount=Decimal("0.3"))
    assert Balance.objects.get(user=user).reserved == Decimal("0.3")


@pytest.mark.django_db
def test_the_database_refuses_a_negative_balance(user: Any) -> None:
    with pytest.raises(IntegrityError):
        Balance.objects.filter(user=user).update(balance=Decimal("-1"), reserved=0)


@pytest.mark.django_db
def test_a_negative_adjustment_cannot_take_the_balance_below_zero(user: Any) -> None:
    from chatsite.errors import InsufficientBalance

    with pytest.raises(InsufficientBalance):
        balance_grant(user_id=user.pk, amount=Decimal("-1"), kind="adjustment")
    balance_grant(user_id=user.pk, amount=Decimal("-0.5"), kind="adjustment", note="correction")
    assert Balance.objects.get(user=user).balance == 0
    assert ledger_mismatches() == []


# Transactional: the view reads on a worker thread of its own, which sees only committed rows.
@pytest.mark.django_db(transaction=True)
def test_get_usage_returns_the_callers_usage(client: Any, access_token: str) -> None:
    assert client.get("/api/v1/usage", headers={"Authorization": f"Bearer {access_token}"}).json() == {
        "anonymous": False,
        "balance": "0.500000",
        "reserved": "0.000000",
        "available": "0.500000",
    }
    assert client.get("/api/v1/usage", headers={"x-anon-id": "guest-usage-1"}).json() == {
        "anonymous": True,
        "used": 0,
        "limit": 10,
        "remaining": 10,
    }
    assert client.get("/api/v1/usage").json()["code"] == "AUTH_REQUIRED"


async def test_deleting_a_chat_mid_answer_still_charges_what_was_generated(
    fake_model: Any, user: Any, access_token: str
) -> None:
    from chats.protocol import protocol_dispatch
    from chatsite.identity import Identity
    from messaging.stops import stop_request

    await database_sync_to_async(fake_model)(upstream_model="fake:tokens=500:delay_ms=10", **PRICES)
    response = await send(access_token, {"model": "fake", "content": "hello"})
    first = await read_events(response, limit=4)

    reply = await database_sync_to_async(protocol_dispatch)(
        Identity(user_id=user.pk), "delete_chat", {"chat_id": first[0].data["chat_id"]}
    )
    for message_id in reply.stop:
        await stop_request(message_id)
    rest = await read_events(response)

    assert names(rest)[-2:] == ["assistant_complete", "usage_info"]
    charge = await LedgerEntry.objects.aget(kind="charge")
    assert charge.message_id is None and charge.amount == -Decimal(rest[-2].data["usage"]["cost"])
    balance = await Balance.objects.aget(user=user)
    assert balance.reserved == 0 and balance.balance == Decimal("0.5") + charge.amount
    assert await database_sync_to_async(ledger_mismatches)() == []
