"""The auth endpoints: register, token, refresh and me."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from usage.models import Balance, LedgerEntry

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"
ME = "/api/v1/auth/me"
PASSWORD = "s3cret-pass-word"


def _post(client: Client, url: str, body: Any, **headers: str) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", headers=headers)


def _login(client: Client) -> dict[str, str]:
    response = _post(client, TOKEN, {"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.content
    return response.json()


# Register


def test_register_creates_the_account_and_signs_it_in(client: Client) -> None:
    response = _post(client, REGISTER, {"username": "bob", "password": "another-long-pass", "email": "b@example.com"})

    assert response.status_code == 201, response.content
    body = response.json()
    user = get_user_model().objects.get(username="bob")
    assert body["user"]["id"] == user.pk
    assert body["user"]["username"] == "bob"
    assert body["user"]["email"] == "b@example.com"
    assert body["user"]["date_joined"]
    assert body["access"]
    assert body["refresh"]
    assert user.check_password("another-long-pass")


def test_register_tokens_work_for_the_new_account(client: Client) -> None:
    body = _post(client, REGISTER, {"username": "bob", "password": "another-long-pass"}).json()

    me = client.get(ME, headers={"Authorization": f"Bearer {body['access']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "bob"
    refreshed = _post(client, REFRESH, {"refresh": body["refresh"]})
    assert refreshed.status_code == 200


def test_register_grants_the_welcome_credit(client: Client) -> None:
    _post(client, REGISTER, {"username": "bob", "password": "another-long-pass"})

    user = get_user_model().objects.get(username="bob")
    assert Balance.objects.get(user=user).balance == Decimal("0.5")
    grants = LedgerEntry.objects.filter(user=user)
    assert [(entry.kind, entry.amount, entry.balance_after) for entry in grants] == [
        (LedgerEntry.Kind.GRANT, Decimal("0.5"), Decimal("0.5"))
    ]


def test_register_refuses_a_username_that_is_taken(client: Client, user: Any) -> None:
    response = _post(client, REGISTER, {"username": "alice", "password": "another-long-pass"})

    assert response.status_code == 409
    assert response.json()["code"] == "USERNAME_TAKEN"
    assert get_user_model().objects.filter(username="alice").count() == 1
    assert LedgerEntry.objects.filter(user=user).count() == 1


@pytest.mark.parametrize("password", ["123", "password", "short", "12345678901"])
def test_register_refuses_a_weak_password(client: Client, password: str) -> None:
    response = _post(client, REGISTER, {"username": "bob", "password": password})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["error"].startswith("password:")
    assert not get_user_model().objects.filter(username="bob").exists()


def test_register_refuses_a_password_like_the_username(client: Client) -> None:
    response = _post(client, REGISTER, {"username": "bobthebuilder", "password": "bobthebuilder"})

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_register_refuses_a_body_without_username(client: Client) -> None:
    response = _post(client, REGISTER, {"password": "another-long-pass"})

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "error"}
    assert body["code"] == "VALIDATION_ERROR"
    assert "username" in body["error"]


@pytest.mark.parametrize("username", ["bob smith", "bob/smith", "", "x" * 151])
def test_register_refuses_a_malformed_username(client: Client, username: str) -> None:
    response = _post(client, REGISTER, {"username": username, "password": "another-long-pass"})

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert get_user_model().objects.count() == 0


def test_register_refuses_a_malformed_email(client: Client) -> None:
    response = _post(client, REGISTER, {"username": "bob", "password": "another-long-pass", "email": "nope"})

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_register_refuses_a_body_that_is_not_json(client: Client) -> None:
    response = client.post(REGISTER, data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


# Token


def test_token_signs_in_with_good_credentials(client: Client, user: Any) -> None:
    body = _login(client)

    assert set(body) == {"access", "refresh"}
    me = client.get(ME, headers={"Authorization": f"Bearer {body['access']}"})
    assert me.json()["id"] == user.pk


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong-pass-word"), ("nobody", PASSWORD), ("ALICE", PASSWORD)],
    ids=["wrong-password", "unknown-user", "other-case"],
)
def test_token_refuses_bad_credentials(client: Client, user: Any, username: str, password: str) -> None:
    response = _post(client, TOKEN, {"username": username, "password": password})

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"


def test_token_refuses_an_inactive_account(client: Client, user: Any) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = _post(client, TOKEN, {"username": "alice", "password": PASSWORD})

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"


def test_token_refuses_a_body_without_password(client: Client, user: Any) -> None:
    response = _post(client, TOKEN, {"username": "alice"})

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_token_records_the_last_login(client: Client, user: Any) -> None:
    _login(client)

    user.refresh_from_db()
    assert user.last_login is not None


# Refresh


def test_refresh_gives_a_new_access_token_and_a_rotated_refresh_token(client: Client, user: Any) -> None:
    first = _login(client)

    response = _post(client, REFRESH, {"refresh": first["refresh"]})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["access"] != first["access"]
    assert body["refresh"] != first["refresh"]
    me = client.get(ME, headers={"Authorization": f"Bearer {body['access']}"})
    assert me.json()["id"] == user.pk
    assert _post(client, REFRESH, {"refresh": body["refresh"]}).status_code == 200


def test_refresh_refuses_a_refresh_token_that_was_already_rotated(client: Client, user: Any) -> None:
    first = _login(client)
    assert _post(client, REFRESH, {"refresh": first["refresh"]}).status_code == 200

    again = _post(client, REFRESH, {"refresh": first["refresh"]})

    assert again.status_code == 401
    assert again.json()["code"] == "TOKEN_INVALID"


@pytest.mark.parametrize("which", ["garbage", "access"])
def test_refresh_refuses_what_is_not_a_refresh_token(client: Client, user: Any, which: str) -> None:
    token = "garbage" if which == "garbage" else _login(client)["access"]

    response = _post(client, REFRESH, {"refresh": token})

    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_refresh_refuses_a_body_without_refresh(client: Client) -> None:
    response = _post(client, REFRESH, {})

    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_refresh_refuses_the_token_of_an_inactive_user(client: Client, user: Any) -> None:
    refresh = _login(client)["refresh"]
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = _post(client, REFRESH, {"refresh": refresh})

    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_refresh_refuses_the_token_of_a_deleted_user(user: Any) -> None:
    client = Client(raise_request_exception=False)
    refresh = _login(client)["refresh"]
    user.delete()

    response = _post(client, REFRESH, {"refresh": refresh})

    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


# Me


def test_me_shows_the_signed_in_account(client: Client, user: Any, access_token: str) -> None:
    response = client.get(ME, headers={"Authorization": f"Bearer {access_token}"})

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == user.pk
    assert body["username"] == "alice"
    assert set(body) >= {"id", "username", "email", "date_joined"}
    assert "password" not in body


def test_me_requires_a_sign_in(client: Client) -> None:
    response = client.get(ME)

    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_REQUIRED"


def test_me_refuses_a_garbage_token(client: Client) -> None:
    response = client.get(ME, headers={"Authorization": "Bearer garbage"})

    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_me_refuses_a_garbage_token_even_with_an_anon_id(client: Client) -> None:
    response = client.get(ME, headers={"Authorization": "Bearer garbage", "x-anon-id": "guest-abcdef12"})

    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_me_refuses_an_authorization_header_of_another_scheme(client: Client) -> None:
    response = client.get(ME, headers={"Authorization": "Basic xyz"})

    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"


def test_me_refuses_a_guest(client: Client) -> None:
    response = client.get(ME, headers={"x-anon-id": "guest-abcdef12"})

    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_REQUIRED"


def test_me_refuses_the_token_of_a_deleted_user(client: Client, user: Any, access_token: str) -> None:
    user.delete()

    response = client.get(ME, headers={"Authorization": f"Bearer {access_token}"})

    assert response.status_code == 401
    assert response.json()["code"] == "TOKEN_INVALID"
