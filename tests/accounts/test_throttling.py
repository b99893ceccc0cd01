"""Sign-ups limited per address, failed sign-ins per username and per address (the parallel versions of these
run against real servers in tests/e2e/test_auth_abuse.py)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db.models import F
from django.test import Client

from usage.models import LedgerEntry, RateCounter

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
PASSWORD = "s3cret-pass-word"


def _post(client: Client, url: str, body: Any, address: str = "10.0.0.1", **extra: str) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json", REMOTE_ADDR=address, **extra)


def _register(client: Client, username: str, address: str = "10.0.0.1", **extra: str) -> Any:
    return _post(client, REGISTER, {"username": username, "password": PASSWORD}, address, **extra)


def _login(client: Client, password: str, username: str = "alice", address: str = "10.0.0.1") -> Any:
    return _post(client, TOKEN, {"username": username, "password": password}, address)


def _assert_rate_limited(response: Any, window_minutes: int) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "RATE_LIMITED"
    assert body["retry_after"] == int(response.headers["Retry-After"])
    assert 1 <= body["retry_after"] <= window_minutes * 60


def _windows_end() -> None:
    RateCounter.objects.update(window_end=F("window_end") - timedelta(days=1))


# Sign-up


def test_sign_ups_from_one_address_stop_at_the_limit_with_the_time_to_wait(settings: Any) -> None:
    settings.SIGNUP_PER_IP, settings.SIGNUP_WINDOW_MINUTES = 2, 30
    client = Client()

    statuses = [_register(client, f"farm{n}").status_code for n in range(2)]
    refused = _register(client, "farm2")

    assert statuses == [201, 201]
    _assert_rate_limited(refused, 30)
    assert refused.json()["error"] == "Too many sign-ups from your network. Try again later."
    assert not get_user_model().objects.filter(username="farm2").exists()
    assert LedgerEntry.objects.count() == 2  # no welcome credit past the limit


def test_sign_ups_from_another_address_are_counted_apart(settings: Any) -> None:
    settings.SIGNUP_PER_IP = 1
    client = Client()
    assert _register(client, "first", "10.0.0.1").status_code == 201

    assert _register(client, "second", "10.0.0.1").status_code == 429
    assert _register(client, "third", "10.0.0.2").status_code == 201


def test_behind_a_trusted_proxy_sign_ups_count_the_forwarded_address(settings: Any) -> None:
    settings.SIGNUP_PER_IP, settings.TRUSTED_PROXY_COUNT = 1, 1
    client = Client()
    assert _register(client, "first", "172.16.0.9", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 201

    # The same proxy, another client; then the first client again, through the same proxy.
    assert _register(client, "second", "172.16.0.9", HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 201
    assert _register(client, "third", "172.16.0.9", HTTP_X_FORWARDED_FOR="203.0.113.5").status_code == 429


def test_a_refused_sign_up_is_not_counted(settings: Any) -> None:
    settings.SIGNUP_PER_IP = 1
    get_user_model().objects.create_user(username="taken", password=PASSWORD)
    client = Client()

    assert _register(client, "taken").status_code == 409
    assert _post(client, REGISTER, {"username": "weak", "password": "123"}).status_code == 400
    assert _register(client, "fresh").status_code == 201


def test_sign_ups_are_allowed_again_when_the_window_ends(settings: Any) -> None:
    settings.SIGNUP_PER_IP = 1
    client = Client()
    assert _register(client, "first").status_code == 201
    assert _register(client, "second").status_code == 429

    _windows_end()

    assert _register(client, "second").status_code == 201


def test_a_sign_up_limit_of_zero_is_no_limit(settings: Any) -> None:
    settings.SIGNUP_PER_IP = 0
    client = Client()

    assert [_register(client, f"user{n}").status_code for n in range(8)] == [201] * 8


# Sign-in


@pytest.fixture
def alice(db: Any) -> Any:
    return get_user_model().objects.create_user(username="alice", password=PASSWORD)


def test_failed_sign_ins_for_a_username_are_throttled_even_with_the_right_password(settings: Any, alice: Any) -> None:
    settings.LOGIN_FAILURES_PER_USERNAME, settings.LOGIN_WINDOW_MINUTES = 3, 15
    client = Client()

    statuses = [_login(client, f"guess-{n}").status_code for n in range(3)]
    refused = _login(client, PASSWORD)

    assert statuses == [401, 401, 401]
    _assert_rate_limited(refused, 15)
    assert refused.json()["error"] == "Too many failed sign-ins. Try again later."
    alice.refresh_from_db()
    assert alice.last_login is None
    # From anywhere: the limit is the username's, not the address's.
    assert _login(client, PASSWORD, address="10.9.9.9").status_code == 429


def test_the_throttle_of_one_username_leaves_other_usernames_alone(settings: Any, alice: Any) -> None:
    settings.LOGIN_FAILURES_PER_USERNAME = 2
    get_user_model().objects.create_user(username="bob", password=PASSWORD)
    client = Client()
    for n in range(2):
        _login(client, f"guess-{n}")

    assert _login(client, PASSWORD, username="bob").status_code == 200


def test_successful_sign_ins_are_never_throttled(settings: Any, alice: Any) -> None:
    settings.LOGIN_FAILURES_PER_USERNAME, settings.LOGIN_FAILURES_PER_IP = 2, 2
    client = Client()

    assert [_login(client, PASSWORD).status_code for _ in range(6)] == [200] * 6


def test_a_successful_sign_in_does_not_wipe_the_failures_before_it(settings: Any, alice: Any) -> None:
    settings.LOGIN_FAILURES_PER_USERNAME = 3
    client = Client()
    _login(client, "guess-1")
    _login(client, "guess-2")

    assert _login(client, PASSWORD).status_code == 200
    assert _login(client, "guess-3").status_code == 401
    assert _login(client, PASSWORD).status_code == 429


def test_failed_sign_ins_from_one_address_are_throttled_over_all_usernames(settings: Any) -> None:
    settings.LOGIN_FAILURES_PER_IP, settings.LOGIN_WINDOW_MINUTES = 3, 10
    client = Client()

    statuses = [_login(client, PASSWORD, username=f"user{n}").status_code for n in range(3)]
    refused = _login(client, PASSWORD, username="user3")

    assert statuses == [401, 401, 401]
    _assert_rate_limited(refused, 10)
    assert _login(client, PASSWORD, username="user3", address="10.0.0.2").status_code == 401


def test_sign_ins_are_allowed_again_when_the_window_ends(settings: Any, alice: Any) -> None:
    settings.LOGIN_FAILURES_PER_USERNAME = 1
    client = Client()
    _login(client, "guess")
    assert _login(client, PASSWORD).status_code == 429

    _windows_end()

    assert _login(client, PASSWORD).status_code == 200


def test_a_refused_sign_in_counts_against_neither_limit(settings: Any, alice: Any) -> None:
    settings.LOGIN_FAILURES_PER_USERNAME, settings.LOGIN_FAILURES_PER_IP = 1, 3
    client = Client()
    _login(client, "guess")

    for _ in range(5):
        assert _login(client, "guess").status_code == 429

    # The address still has two failures to give: the refusals above did not use them.
    assert _login(client, "guess", username="bob").status_code == 401
    assert _login(client, "guess", username="carol").status_code == 401
    assert _login(client, "guess", username="dave").status_code == 429
