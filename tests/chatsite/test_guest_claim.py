"""A guest who signs up or signs in keeps their chats, and their free messages stop counting against them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chats.models import Chat
from usage.models import AnonUsage

pytestmark = pytest.mark.django_db

GUEST = "guest-abcdef12"
OTHER_GUEST = "guest-zyxwvu98"
REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"


def _post(client: Client, url: str, body: Any, **headers: str) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def guest_chats(db: Any) -> list[Chat]:
    return [Chat.objects.create(anon_id=GUEST, model="echo", title=f"guest chat {n}") for n in range(2)]


@pytest.fixture
def other_chat(db: Any) -> Chat:
    return Chat.objects.create(anon_id=OTHER_GUEST, model="echo")


def _assert_claimed(chats: list[Chat], user_id: int) -> None:
    for chat in chats:
        chat.refresh_from_db()
        assert chat.user_id == user_id
        assert chat.anon_id is None


def _assert_untouched(chat: Chat) -> None:
    chat.refresh_from_db()
    assert chat.user_id is None
    assert chat.anon_id == OTHER_GUEST


def test_register_moves_the_guests_chats_to_the_new_account(
    client: Client, guest_chats: list[Chat], other_chat: Chat
) -> None:
    response = _post(client, REGISTER, {"username": "bob", "password": "another-long-pass"}, **{"x-anon-id": GUEST})

    assert response.status_code == 201, response.content
    _assert_claimed(guest_chats, response.json()["user"]["id"])
    _assert_untouched(other_chat)


def test_register_resets_the_guests_free_messages(client: Client) -> None:
    AnonUsage.objects.create(anon_id=GUEST, used=7)
    AnonUsage.objects.create(anon_id=OTHER_GUEST, used=3)

    response = _post(client, REGISTER, {"username": "bob", "password": "another-long-pass"}, **{"x-anon-id": GUEST})

    usage = AnonUsage.objects.get(pk=GUEST)
    assert usage.used == 0
    assert usage.claimed_by_id == response.json()["user"]["id"]
    other = AnonUsage.objects.get(pk=OTHER_GUEST)
    assert (other.used, other.claimed_by_id) == (3, None)


def test_register_without_an_anon_id_claims_nothing(client: Client, guest_chats: list[Chat]) -> None:
    response = _post(client, REGISTER, {"username": "bob", "password": "another-long-pass"})

    assert response.status_code == 201
    assert Chat.objects.filter(anon_id=GUEST, user__isnull=True).count() == len(guest_chats)


def test_register_with_a_guest_who_has_nothing_yet_still_succeeds(client: Client) -> None:
    response = _post(client, REGISTER, {"username": "bob", "password": "another-long-pass"}, **{"x-anon-id": GUEST})

    assert response.status_code == 201
    assert not AnonUsage.objects.filter(pk=GUEST).exists()


def test_register_refuses_a_malformed_anon_id_and_creates_no_account(client: Client) -> None:
    response = _post(client, REGISTER, {"username": "bob", "password": "another-long-pass"}, **{"x-anon-id": "bad id!"})

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert not get_user_model().objects.filter(username="bob").exists()


def test_a_refused_registration_claims_nothing(client: Client, user: Any, guest_chats: list[Chat]) -> None:
    AnonUsage.objects.create(anon_id=GUEST, used=7)

    response = _post(client, REGISTER, {"username": "alice", "password": "another-long-pass"}, **{"x-anon-id": GUEST})

    assert response.status_code == 409
    assert Chat.objects.filter(anon_id=GUEST, user__isnull=True).count() == len(guest_chats)
    usage = AnonUsage.objects.get(pk=GUEST)
    assert (usage.used, usage.claimed_by_id) == (7, None)


def test_signing_in_moves_the_guests_chats_to_the_account(
    client: Client, user: Any, guest_chats: list[Chat], other_chat: Chat
) -> None:
    AnonUsage.objects.create(anon_id=GUEST, used=7)

    response = _post(client, TOKEN, {"username": "alice", "password": "s3cret-pass-word"}, **{"x-anon-id": GUEST})

    assert response.status_code == 200, response.content
    _assert_claimed(guest_chats, user.pk)
    _assert_untouched(other_chat)
    usage = AnonUsage.objects.get(pk=GUEST)
    assert (usage.used, usage.claimed_by_id) == (0, user.pk)


def test_signing_in_keeps_the_accounts_own_chats(client: Client, user: Any, guest_chats: list[Chat]) -> None:
    own = Chat.objects.create(user=user, model="echo")

    _post(client, TOKEN, {"username": "alice", "password": "s3cret-pass-word"}, **{"x-anon-id": GUEST})

    assert set(Chat.objects.filter(user=user).values_list("pk", flat=True)) == {own.pk, *(c.pk for c in guest_chats)}


def test_a_failed_sign_in_claims_nothing(client: Client, user: Any, guest_chats: list[Chat]) -> None:
    AnonUsage.objects.create(anon_id=GUEST, used=7)

    response = _post(client, TOKEN, {"username": "alice", "password": "wrong-pass-word"}, **{"x-anon-id": GUEST})

    assert response.status_code == 401
    assert Chat.objects.filter(anon_id=GUEST, user__isnull=True).count() == len(guest_chats)
    assert AnonUsage.objects.get(pk=GUEST).used == 7


def test_signing_in_refuses_a_malformed_anon_id(client: Client, user: Any) -> None:
    response = _post(client, TOKEN, {"username": "alice", "password": "s3cret-pass-word"}, **{"x-anon-id": "x.y"})

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
