"""Who has a management socket open, per owner (``Identity.group``) and transport, so that ``chatsite.push``
publishes only where someone can receive it.

Each process knows its own sockets exactly. With Redis, every process also writes them to one sorted set per
owner, ``<prefix>:presence:<group>``: a member per socket (``<transport>:<origin>``) scored by the time it
expires. A process refreshes its members every third of ``PRESENCE_TTL_SECONDS``, and at once when Redis
answers again after an outage (a restarted Redis has lost them), and removes a member when its socket closes. A
process that dies without cleaning up leaves members that nobody counts once their time has passed; they are
pruned at the owner's next connect, and the key expires a TTL after its last write. The writers' clocks must
agree within two thirds of the TTL (NTP does far better).

Reading fails open: when Redis cannot be read, every transport counts as present and the push goes out as it
would without this module. There is deliberately no cache of an empty answer: another process may have just
accepted a socket whose client is listing what it missed, and a push skipped after that list would be lost.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Iterable

from django.conf import settings

from chatsite.errors import ServiceUnavailable
from chatsite.failures import FailureLog
from chatsite.outages import redis_call
from chatsite.redis import raise_if_cancelled, redis_client, redis_enabled, redis_key

log = logging.getLogger(__name__)

SOCKET_IO = "sio"
CHANNELS = "ws"  # the /ws/chats/ consumers, which the channel layer reaches
EVERY_TRANSPORT = frozenset({SOCKET_IO, CHANNELS})
REFRESH_BATCH = 500  # owners per pipeline when a process writes all its members again

# This process's open sockets: group -> {member: transport}. Exact for this process; the whole truth without
# Redis, where the process is the only one.
_here: dict[str, dict[str, str]] = {}
_reading = FailureLog(log, "Reading socket presence")


def _key(group: str) -> str:
    return redis_key("presence", group)


def _member(transport: str, origin: str) -> str:
    return f"{transport}:{origin}"


async def presence_enter(*, group: str, transport: str, origin: str) -> None:
    """Count the socket ``origin`` (a Socket.IO sid or a channel name) as open for ``group``. Awaited before the
    client hears that it is connected, so that every push after its first list of chats reaches it."""
    member = _member(transport, origin)
    _here.setdefault(group, {})[member] = transport
    if redis_enabled():
        await _write([(group, [member])])


async def presence_leave(*, group: str, transport: str, origin: str) -> None:
    member = _member(transport, origin)
    members = _here.get(group)
    if members is None or members.pop(member, None) is None:
        return
    if not members:
        del _here[group]
    if redis_enabled():
        try:
            async with redis_call("removing socket presence"):
                await redis_client().zrem(_key(group), member)
        except ServiceUnavailable:
            pass  # logged by redis_call; the member expires on its own


async def presence_transports(group: str) -> frozenset[str]:
    """The transports on which ``group`` has a socket open in any process; every transport if that cannot be
    known (Redis down or slow)."""
    here = frozenset(_here.get(group, {}).values())
    if here == EVERY_TRANSPORT or not redis_enabled():
        return here
    try:
        async with redis_call("reading socket presence"):
            members = await redis_client().zrangebyscore(_key(group), time.time(), "+inf")
    except ServiceUnavailable:
        return EVERY_TRANSPORT  # logged by redis_call
    except Exception as error:  # not an outage, but a push must not be lost to it either
        _reading.failed(error)
        return EVERY_TRANSPORT
    _reading.succeeded()
    return here | {member.split(b":", 1)[0].decode() for member in members}


async def presence_refresh() -> None:
    """Write every socket of this process again, with a new expiry."""
    groups = [(group, list(members)) for group, members in _here.items()]
    for start in range(0, len(groups), REFRESH_BATCH):
        await _write(groups[start : start + REFRESH_BATCH])


async def presence_keep() -> None:
    """Refresh this process's sockets every third of the TTL, for as long as it serves."""
    while True:
        await asyncio.sleep(settings.PRESENCE_TTL_SECONDS / 3)
        await presence_refresh()
        raise_if_cancelled()  # a lost cancellation would keep a closing event loop waiting for this task


async def _write(groups: Iterable[tuple[str, list[str]]]) -> None:
    """One pipeline: for each owner, drop the members that expired, add or renew ``members``, keep the key."""
    now = time.time()
    expiry, ttl = now + settings.PRESENCE_TTL_SECONDS, math.ceil(settings.PRESENCE_TTL_SECONDS)
    try:
        async with redis_call("writing socket presence"), redis_client().pipeline(transaction=False) as pipe:
            for group, members in groups:
                key = _key(group)
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.zadd(key, dict.fromkeys(members, expiry))
                pipe.expire(key, ttl)
            await pipe.execute()
    except ServiceUnavailable:
        pass  # logged by redis_call; the next refresh, or Redis's recovery, writes them again
