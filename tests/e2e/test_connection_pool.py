"""PostgreSQL connections are lent from a small pool per process: every kind of request gives its back."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.e2e.http import get_json, parallel, post_stream

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


def post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=20) as response:
        return json.loads(response.read())


def use_every_kind_of_request(url: str, number: int, access: str) -> bool:
    """One client's round: a health check, the catalog, a synchronous view with its own thread (``me``) and a
    send with its admission, turn and settlement. (Sign-up and sign-in happen once, before: hashing a password
    holds a connection for a long while on a loaded machine, which says nothing about giving it back.)"""
    guest = {"x-anon-id": f"pool-guest-{number:04d}"}
    assert get_json(f"{url}/health")["status"] == "ok"
    assert get_json(f"{url}/api/v1/models", guest)["models"]
    assert get_json(f"{url}/api/v1/auth/me", {"Authorization": f"Bearer {access}"})["username"] == "pooled"
    sent = post_stream(f"{url}/api/v1/messages/send", {"content": f"round {number}"}, guest, 30)
    return sent.status == 200 and sent.events[-1].name == "usage_info"


def test_a_pool_of_two_connections_serves_many_requests_of_every_kind(servers: Any) -> None:
    server = servers(DATABASE_POOL_SIZE="2")
    user = {"username": "pooled", "password": "a long passphrase 123"}
    post_json(f"{server.url}/api/v1/auth/register", user)
    access = post_json(f"{server.url}/api/v1/auth/token", user)["access"]

    # Eight clients at once, twice: a connection kept by any request (or its thread) would run the pool dry.
    for first in (0, 8):
        calls = [lambda n=n: use_every_kind_of_request(server.url, n, access) for n in range(first, first + 8)]
        assert all(parallel(calls))
