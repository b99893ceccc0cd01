"""Sign-up farming, password guessing and refresh-token races, with parallel requests against real server
processes (two of them, on the one test database, so the limits hold across workers)."""

from __future__ import annotations

import functools
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework_simplejwt.tokens import RefreshToken

from tests.e2e.http import parallel
from usage.models import LedgerEntry

pytestmark = pytest.mark.e2e

PASSWORD = "s3cret-pass-word"


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    retry_after: str | None


def post_json(url: str, body: dict[str, Any]) -> Answer:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return Answer(response.status, json.loads(response.read()), response.headers.get("Retry-After"))
    except urllib.error.HTTPError as error:
        return Answer(error.code, json.loads(error.read()), error.headers.get("Retry-After"))


def _assert_rate_limited(answers: list[Answer]) -> None:
    for answer in answers:
        assert answer.body["code"] == "RATE_LIMITED", answer.body
        assert answer.retry_after is not None and int(answer.retry_after) >= 1
        assert answer.body["retry_after"] == int(answer.retry_after)


def test_parallel_sign_ups_from_one_address_stop_at_the_limit_and_only_they_get_credit(servers: Any) -> None:
    first, second = servers(SIGNUP_PER_IP="3"), servers(SIGNUP_PER_IP="3")
    sign_ups = [
        functools.partial(
            post_json, f"{server.url}/api/v1/auth/register", {"username": f"farm{n:02d}", "password": PASSWORD}
        )
        for n, server in enumerate((first, second) * 8)
    ]

    answers = parallel(sign_ups)

    assert sorted(answer.status for answer in answers) == [201] * 3 + [429] * 13
    _assert_rate_limited([answer for answer in answers if answer.status == 429])
    assert get_user_model().objects.count() == 3
    grants = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.GRANT)
    assert sorted(entry.amount for entry in grants) == [Decimal("0.5")] * 3


def test_parallel_wrong_passwords_for_one_username_are_throttled_across_processes(servers: Any) -> None:
    get_user_model().objects.create_user(username="target", password=PASSWORD)
    first, second = servers(LOGIN_FAILURES_PER_USERNAME="5"), servers(LOGIN_FAILURES_PER_USERNAME="5")
    guesses = [
        functools.partial(
            post_json, f"{server.url}/api/v1/auth/token", {"username": "target", "password": f"guess-{n:04d}"}
        )
        for n, server in enumerate((first, second) * 10)
    ]

    answers = parallel(guesses)

    assert sorted(answer.status for answer in answers) == [401] * 5 + [429] * 15
    assert all(answer.body["code"] == "INVALID_CREDENTIALS" for answer in answers if answer.status == 401)
    _assert_rate_limited([answer for answer in answers if answer.status == 429])
    # While the window lasts even the right password is refused: an answer that differed would confirm a guess.
    right = post_json(f"{first.url}/api/v1/auth/token", {"username": "target", "password": PASSWORD})
    assert right.status == 429
    _assert_rate_limited([right])


def test_parallel_wrong_passwords_from_one_address_are_throttled_over_all_usernames(servers: Any) -> None:
    server = servers(LOGIN_FAILURES_PER_IP="4")
    guesses = [
        functools.partial(
            post_json, f"{server.url}/api/v1/auth/token", {"username": f"sprayed{n:02d}", "password": PASSWORD}
        )
        for n in range(12)
    ]

    answers = parallel(guesses)

    assert sorted(answer.status for answer in answers) == [401] * 4 + [429] * 8
    _assert_rate_limited([answer for answer in answers if answer.status == 429])


def test_of_twenty_parallel_refreshes_with_one_token_exactly_one_succeeds(servers: Any) -> None:
    user = get_user_model().objects.create_user(username="refresher", password=PASSWORD)
    refresh = str(RefreshToken.for_user(user))
    first, second = servers(), servers()
    refreshes = [
        functools.partial(post_json, f"{server.url}/api/v1/auth/token/refresh", {"refresh": refresh})
        for server in (first, second) * 10
    ]

    answers = parallel(refreshes)

    winners = [answer for answer in answers if answer.status == 200]
    assert len(winners) == 1, [answer.status for answer in answers]
    losers = [answer for answer in answers if answer.status != 200]
    assert all(answer.status == 401 and answer.body["code"] == "TOKEN_INVALID" for answer in losers)
    again = post_json(f"{first.url}/api/v1/auth/token/refresh", {"refresh": winners[0].body["refresh"]})
    assert again.status == 200, again.body
    replay = post_json(f"{second.url}/api/v1/auth/token/refresh", {"refresh": refresh})
    assert replay.status == 401
