"""What both socket transports share: each open socket's caller, rate limit and order of events, dispatching an
event through the protocol table on the socket workers, and the side effects of a reply (stopping generations,
telling the caller's other sockets).

Fairness: every socket's database work runs on a bounded pool of socket workers, and a socket's events are
handled one at a time in the order they came, so one socket never holds more than one worker and a flood from
one client cannot queue other clients' events behind its own. channels' ``database_sync_to_async`` would run
them all on the one thread asgiref shares (it is thread-sensitive by default).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings

from chats import protocol
from chats.hooks import generations_stop
from chatsite.errors import ApiError, AuthRequired, RateLimited
from chatsite.identity import Identity, identity_resolve
from chatsite.input import json_check, text_check, text_safe
from chatsite.presence import presence_enter, presence_leave
from chatsite.push import push

Send = Callable[[str, dict[str, Any]], Awaitable[None]]
Close = Callable[[], Awaitable[None]]
P = ParamSpec("P")
R = TypeVar("R")

ABUSE_WINDOW_SECONDS = 10.0

# The socket workers (see above). Their database connections are closed after each call, as channels does.
workers = ThreadPoolExecutor(max_workers=settings.SOCKET_WORKER_THREADS, thread_name_prefix="socket")


def _on_worker(function: Callable[P, R]) -> Callable[P, Awaitable[R]]:
    """``function`` (synchronous database code) run on a socket worker; stale connections are closed there."""
    return database_sync_to_async(function, thread_sensitive=False, executor=workers)  # type: ignore[no-any-return]


class _TokenBucket:
    """``rate`` events a second on average, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), time.monotonic()

    def take(self) -> float:
        """0 when an event may go now (its token is taken), else the seconds until one may."""
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class _Refusals:
    """How many events were refused in the current window of ``ABUSE_WINDOW_SECONDS``."""

    def __init__(self) -> None:
        self.start, self.count = 0.0, 0

    def add(self) -> int:
        now = time.monotonic()
        if now - self.start > ABUSE_WINDOW_SECONDS:
            self.start, self.count = now, 0
        self.count += 1
        return self.count


class SocketConnection:
    """One open management socket, on either transport. ``send`` emits an event to it, ``close`` ends it, and
    ``origin`` names it (a Socket.IO sid or a channel name) so that a broadcast skips it; ``transport`` says
    which transport's pushes reach it (``chatsite.presence``)."""

    def __init__(self, *, send: Send, close: Close, origin: str, transport: str) -> None:
        self.identity: Identity | None = None
        self.closed = False
        self._gone = False  # the socket closed: it must not count as open, even if it closed while identifying
        self._send, self._close, self._origin, self._transport = send, close, origin, transport
        self._bucket = _TokenBucket(settings.SOCKET_RATE_PER_SECOND, settings.SOCKET_RATE_BURST)
        self._refusals = _Refusals()
        self._turn = asyncio.Lock()  # FIFO: events are handled in the order they arrived

    async def refusal(self, event: str | None, data: Any, error: ApiError | None = None) -> protocol.Reply | None:
        """None when a client event may be handled. Otherwise the error it was answered with instead:
        ``RATE_LIMITED`` over the rate limit (a socket that keeps on after that is closed), else ``error`` (what
        the transport found wrong with the frame), else what chatsite.input refuses in it."""
        limited = await self._over_limit(event)
        if limited is not None:
            return limited
        try:
            if error is not None:
                raise error
            if event is not None:
                text_check(event, "event")
        except ApiError as refused:
            return await self.refuse(None, refused)
        try:
            json_check(data)
        except ApiError as refused:
            return await self.refuse(event, refused)
        return None

    async def _over_limit(self, event: str | None) -> protocol.Reply | None:
        if self.closed:
            return protocol.Reply(protocol.ERROR, protocol.error_payload(None, RateLimited()))
        wait = self._bucket.take()
        if not wait:
            return None
        event = event if event is not None and text_safe(event) else None
        limit = settings.SOCKET_RATE_DISCONNECT_AFTER
        if limit and self._refusals.add() > limit:
            self.closed = True
            reply = await self.refuse(event, RateLimited("Too many events over the rate limit; closing."))
            await self._close()
            return reply
        rate = f"{settings.SOCKET_RATE_PER_SECOND:g}"
        error = RateLimited(f"More than {rate} events a second; wait.", retry_after_ms=math.ceil(wait * 1000))
        return await self.refuse(event, error)

    async def refuse(self, event: str | None, error: ApiError) -> protocol.Reply:
        """Answer a client event with ``error`` (without handling it)."""
        reply = protocol.Reply(protocol.ERROR, protocol.error_payload(event, error))
        await self._send(reply.event, reply.data)
        return reply

    async def identify(self, *, token: object, anon_id: object) -> Identity:
        """The caller the credentials name (``ApiError`` if they name none, or a bad one), who from now on owns
        this socket."""
        async with self._turn:
            identity = await _on_worker(identity_resolve)(token=token, anon_id=anon_id)
        assert identity is not None
        previous, self.identity = self.identity, identity
        if previous != identity:
            await self._present(identity)
            if previous is not None:
                await presence_leave(group=previous.group, transport=self._transport, origin=self._origin)
        return identity

    async def _present(self, identity: Identity) -> None:
        await presence_enter(group=identity.group, transport=self._transport, origin=self._origin)
        if self._gone or self.identity != identity:  # it closed, or identified again, meanwhile
            await presence_leave(group=identity.group, transport=self._transport, origin=self._origin)

    async def leave(self) -> None:
        """The socket closed: it no longer counts as open for pushes."""
        self._gone = True
        if self.identity is not None:
            await presence_leave(group=self.identity.group, transport=self._transport, origin=self._origin)

    async def welcome(self) -> None:
        """What a socket gets as soon as it knows who it is: the caller's ``usage_info``."""
        await self.handle(protocol.USAGE_INFO, {})

    async def handle(self, event: str, data: Any) -> protocol.Reply:
        """Handle one client event: reply to the sender, then act on the reply."""
        async with self._turn:
            reply = await self._dispatch(event, data)
            await generations_stop(reply.stop)
            await self._send(reply.event, reply.data)
        if self.identity is not None:
            await reply_announce(self.identity, reply, origin=self._origin)
        return reply

    async def _dispatch(self, event: str, data: Any) -> protocol.Reply:
        try:
            if self.identity is None:
                raise AuthRequired("Send an auth frame first.")
            return await _on_worker(protocol.protocol_dispatch)(self.identity, event, data)
        except ApiError as error:
            return protocol.Reply(protocol.ERROR, protocol.error_payload(event, error))


async def reply_announce(identity: Identity, reply: protocol.Reply, *, origin: str | None) -> None:
    """Tell the caller's sockets of a change: the reply to the others (``origin`` has it), and the reply's
    pushes to all."""
    if reply.broadcast:
        await push(identity, reply.event, reply.data, exclude=origin)
    for event, data in reply.pushes:
        await push(identity, event, data)
