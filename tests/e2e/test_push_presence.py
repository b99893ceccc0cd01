"""Pushes go only where someone can receive them: a send by an owner with no management socket open publishes
nothing to Redis, an owner with a socket open on another worker still gets every push, and the sockets of a
worker killed without cleaning up stop counting within ``PRESENCE_TTL_SECONDS``.

What reaches Redis is read from ``INFO commandstats`` of a Redis of the test's own: a Socket.IO push is a
``PUBLISH``, a push to the ``/ws/chats/`` group is a ``ZRANGE`` of the group's members (channels-redis)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from tests.e2e.conftest import run_node
from tests.e2e.http import post_stream
from tests.e2e.outages import OwnRedis, wait_for
from tests.e2e.test_live_pushes import events_of, listen

pytestmark = pytest.mark.e2e
SEND = "/api/v1/messages/send"
PUSH_COMMANDS = ("publish", "zrange")


def on(own: OwnRedis, **env: str) -> dict[str, str]:
    return {
        "REDIS_URL": own.url,
        "REDIS_PREFIX": "chatsite-presence",
        "ANON_MESSAGE_LIMIT": "1000",
        "ANON_IP_LIMIT": "1000",
        **env,
    }


def pushes_published(own: OwnRedis) -> dict[str, int]:
    """How many times each command that carries a push has run on the test's Redis so far."""
    stats = redis.Redis.from_url(own.url).info("commandstats")
    return {name: stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in PUSH_COMMANDS}


def published_since(own: OwnRedis, before: dict[str, int]) -> dict[str, int]:
    now = pushes_published(own)
    return {name: now[name] - before[name] for name in PUSH_COMMANDS}


def send(url: str, guest: str, content: str = "hello") -> None:
    sent = post_stream(f"{url}{SEND}", {"content": content}, {"x-anon-id": guest})
    assert sent.status == 200
    assert sent.events[-1].name == "usage_info"  # the answer ended and was settled (its pushes are sent by then)


def connected(listener: Any) -> None:
    assert json.loads(listener.stdout.readline())["event"] == "usage_info"
    assert json.loads(listener.stdout.readline())["event"] == "connected"


def test_a_send_by_an_owner_with_no_socket_open_publishes_no_push(servers: Any, own_redis: OwnRedis) -> None:
    worker = servers(**on(own_redis))
    before = pushes_published(own_redis)

    send(worker.url, "presence-nobody-01")
    send(worker.url, "presence-nobody-01")  # a new chat, then one continued

    assert published_since(own_redis, before) == {"publish": 0, "zrange": 0}


def test_an_owner_with_a_socket_on_another_worker_gets_every_push(servers: Any, own_redis: OwnRedis) -> None:
    first, second = servers(**on(own_redis)), servers(**on(own_redis))
    guest = "presence-listener-01"
    listener = listen(second.url, {"anon_id": guest})
    connected(listener)

    send(first.url, guest, "across workers")
    output, errors = listener.communicate(timeout=30)

    names = [event["event"] for event in events_of(output)]
    assert {"chat_created", "generation_started", "message_created", "usage_info"} <= set(names), errors
    created = [event["data"]["message"] for event in events_of(output) if event["event"] == "message_created"]
    assert [(message["role"], message["content"]) for message in created] == [
        ("user", "across workers"),
        ("assistant", "You said: across workers"),
    ]


def test_a_plain_websocket_gets_its_pushes_and_nothing_is_published_for_socket_io(
    servers: Any, own_redis: OwnRedis
) -> None:
    worker = servers(**on(own_redis))
    before = pushes_published(own_redis)

    result = run_node("ws_chats.mjs", worker.url, "presence-websocket-01")

    assert result.returncode == 0, result.stderr + worker.log()
    frames = json.loads(result.stdout)["frames"]
    created = [frame["data"]["message"]["role"] for frame in frames if frame["event"] == "message_created"]
    assert created == ["user", "assistant"]
    assert published_since(own_redis, before)["publish"] == 0


def test_the_sockets_of_a_killed_worker_stop_counting_within_the_ttl(servers: Any, own_redis: OwnRedis) -> None:
    env = on(own_redis, PRESENCE_TTL_SECONDS="1")
    first, second = servers(**env), servers(**env)
    guest = "presence-killed-01"
    listener = listen(second.url, {"anon_id": guest})
    connected(listener)
    before = pushes_published(own_redis)
    send(first.url, guest)
    listener.communicate(timeout=30)
    assert published_since(own_redis, before)["publish"] > 0  # an open socket counts
    orphan = listen(second.url, {"anon_id": guest})  # open when its worker dies: nobody removes it
    connected(orphan)

    second.kill()

    def nothing_published() -> bool:
        before = pushes_published(own_redis)
        send(first.url, guest)
        return published_since(own_redis, before) == {"publish": 0, "zrange": 0}

    try:
        assert wait_for(nothing_published, timeout=30, interval=0.5)
    finally:
        orphan.kill()
