"""Which transports a push takes: those on which the owner has a socket open, and every one when that cannot be
known (a push is never lost to an unreadable presence)."""

from __future__ import annotations

from typing import Any

from chatsite.outages import redis_health
from chatsite.presence import CHANNELS, EVERY_TRANSPORT, SOCKET_IO, presence_enter, presence_leave, presence_transports
from tests.e2e.servers import free_port


async def test_a_push_takes_only_the_transports_with_a_socket_open(settings: Any) -> None:
    settings.REDIS_URL = ""  # one process: its own sockets are the whole truth
    group = "presence-test-owner"
    assert await presence_transports(group) == frozenset()

    await presence_enter(group=group, transport=CHANNELS, origin="channel-1")
    assert await presence_transports(group) == {CHANNELS}
    await presence_enter(group=group, transport=SOCKET_IO, origin="sid-1")
    await presence_leave(group=group, transport=CHANNELS, origin="channel-1")
    assert await presence_transports(group) == {SOCKET_IO}

    await presence_leave(group=group, transport=SOCKET_IO, origin="sid-1")
    assert await presence_transports(group) == frozenset()


async def test_a_push_takes_every_transport_when_presence_cannot_be_read(settings: Any) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    try:
        assert await presence_transports("presence-test-nobody") == EVERY_TRANSPORT
        assert redis_health.down
        assert await presence_transports("presence-test-nobody") == EVERY_TRANSPORT  # known down: not even tried
    finally:
        redis_health.answered()
