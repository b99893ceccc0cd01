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


def use_every_kind_of_request(url: str, number: int) -> bool:
    guest = {"x-anon-id": f"pool-guest-{number:04d}"}
    assert get_json(f"{url}/health")["status"] == "ok"
    assert get_json(f"{url}/api/v1/models", guest)["models"]
    user = {"username": f"pooled-{number}", "password": "a long passphrase 123"}
    assert post_json(f"{url}/api/v1/auth/register", user)["access"]
    assert post_json(f"{url}/api/v1/auth/token", user)["access"]
    sent = post_stream(f"{url}/api/v1/messages/send", {"content": f"round {number}"}, guest, 30)
    return sent.status == 200 and sent.events[-1].name == "usage_info"


def test_a_pool_of_two_connections_serves_many_requests_of_every_kind(servers: Any) -> None:
    server = servers(DATABASE_POOL_SIZE="2", SIGNUP_PER_IP="100")

    # Eight clients at once, twice: a connection kept by any request (or its thread) would run the pool dry.
    for first in (0, 8):
        assert all(parallel([lambda n=n: use_every_kind_of_request(server.url, n) for n in range(first, first + 8)]))
