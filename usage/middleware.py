"""Quota enforcement for ``send`` and ``regenerate``, before the view runs (as the design asks).

The middleware resolves the caller, parses and plans the generation, and takes its quota: one free message for
a guest, or a reservation of the most the answer can cost for a user. A refusal is the pre-stream error
response and is also pushed to the caller's management sockets. If the view then does not start the
generation (an error, a chat already answering), the hold is given back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from chats.push import notify
from chatsite.errors import AnonLimitReached, ApiError, InsufficientBalance, ShuttingDown
from chatsite.http import pre_stream_error
from chatsite.identity import Identity, identity_from_request
from messaging.requests import regenerate_request_parse, send_request_parse
from messaging.services import GenerationPlan, generation_plan, send_replay_of
from messaging.shutdown import is_draining
from usage.services import QuotaHold, client_ip, quota_acquire, quota_release

SEND_PATH = "/api/v1/messages/send"
REGENERATE_PATH = "/api/v1/messages/regenerate"
QUOTA_ERRORS = (AnonLimitReached, InsufficientBalance)


@dataclass
class PreparedGeneration:
    """What the view gets: a planned generation with its quota held, or the answer a retried send repeats."""

    plan: GenerationPlan | None = None
    hold: QuotaHold | None = None
    replay_message_id: UUID | None = None
    started: bool = False
    starting: asyncio.Future[Any] | None = None  # the view's start, which runs to its end even if the client left


def _prepare(request: HttpRequest) -> PreparedGeneration:
    if is_draining():
        raise ShuttingDown()
    identity = identity_from_request(request)
    assert identity is not None
    if request.path == SEND_PATH:
        parsed = send_request_parse(request.body, request.headers.get("Idempotency-Key"))
    else:
        parsed = regenerate_request_parse(request.body)
    replay = send_replay_of(identity=identity, request=parsed)
    if replay is not None:  # a retried send: its first attempt holds the quota and has the answer
        return PreparedGeneration(replay_message_id=replay)
    plan = generation_plan(identity=identity, request=parsed)
    hold = quota_acquire(identity=identity, ip=client_ip(request.META), reserve=plan.reserve)
    return PreparedGeneration(plan=plan, hold=hold)


async def _release_unless_started(prepared: PreparedGeneration) -> None:
    """Give the quota back if the generation did not start (an error, a chat already answering)."""
    if prepared.starting is not None:
        await asyncio.wait([prepared.starting])  # a start under way finishes either way: wait to know
    if prepared.hold is not None and not prepared.started:
        await sync_to_async(quota_release)(hold=prepared.hold)


_releasing: set[asyncio.Task[None]] = set()


def _release_when_prepared(preparing: asyncio.Future[PreparedGeneration]) -> None:
    if preparing.cancelled() or preparing.exception() is not None:
        return
    task = asyncio.ensure_future(_release_unless_started(preparing.result()))
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)


class QuotaMiddleware:
    async_capable = True
    sync_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(self.get_response):
            markcoroutinefunction(self)

    async def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method != "POST" or request.path not in (SEND_PATH, REGENERATE_PATH):
            return await self.get_response(request)
        preparing = asyncio.ensure_future(sync_to_async(_prepare)(request))
        try:
            prepared = await asyncio.shield(preparing)
        except ApiError as error:
            if isinstance(error, QUOTA_ERRORS):
                await self._push_refusal(request, error)
            return pre_stream_error(request, error)
        except asyncio.CancelledError:  # the client left while its quota was being taken: give it back
            preparing.add_done_callback(_release_when_prepared)
            raise
        request.prepared_generation = prepared  # type: ignore[attr-defined]
        try:
            return await self.get_response(request)
        finally:
            await _release_unless_started(prepared)

    async def _push_refusal(self, request: HttpRequest, error: ApiError) -> None:
        identity: Identity | None = await sync_to_async(identity_from_request)(request, required=False)
        if identity is not None:
            await notify(identity, "assistant_error", error.payload())
