"""How the generation endpoints are admitted by the quota middleware: what a send, regenerate or edit asks of
the quota (planned and checked before anything is held), and how a refusal is answered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from chats import protocol
from chatsite.errors import AnonLimitReached, ApiError, InsufficientBalance, ServiceUnavailable
from chatsite.http import rendering_errors
from chatsite.identity import Identity, identity_from_request
from chatsite.outages import dependencies_down
from chatsite.push import push_soon
from messaging import events
from messaging.metrics import SENDS_REFUSED
from messaging.requests import GenerationRequest, edit_request_parse, regenerate_request_parse, send_request_parse
from messaging.responses import pre_stream_error
from messaging.services import GenerationPlan, generation_plan, send_replay_of
from usage.admission import Demand


def send_refused(request: HttpRequest, error: ApiError) -> HttpResponseBase:
    """A send, regenerate or edit refused with a code, whoever refused it (the admission, or the start of the
    generation: a chat still answering): counted, and answered as any error before a stream."""
    SENDS_REFUSED.labels(code=error.code).inc()
    return pre_stream_error(request, error)


# An ``ApiError`` raised by a generation endpoint becomes a counted refusal.
send_errors = rendering_errors(send_refused)

# Refusals the caller's other tabs hear of too (the quota indicator changes there as well).
ANNOUNCED = (AnonLimitReached, InsufficientBalance)


@dataclass(frozen=True)
class Replay:
    """A retried send: its first attempt holds the quota and has the answer to follow."""

    message_id: UUID


Subject = GenerationPlan | Replay


class GenerationAdmission:
    methods: tuple[str, ...] = ("POST",)

    def __init__(self, parse: Callable[[HttpRequest], GenerationRequest]) -> None:
        self.parse = parse

    def demand(self, request: HttpRequest) -> Demand[Subject]:
        if dependencies_down():
            # Refused at once, before any quota is taken: a generation needs the database to be stored and
            # settled, and Redis to be followed, stopped and recovered from other processes.
            raise ServiceUnavailable()
        identity = identity_from_request(request)
        assert identity is not None
        parsed = self.parse(request)
        replay = send_replay_of(identity=identity, request=parsed)
        if replay is not None:
            return Demand(identity=identity, subject=Replay(replay), holds=False)
        plan = generation_plan(identity=identity, request=parsed)
        return Demand(identity=identity, subject=plan, reserve=plan.reserve)

    async def refusal(self, request: HttpRequest, identity: Identity | None, error: ApiError) -> HttpResponseBase:
        if identity is not None and isinstance(error, ANNOUNCED):
            await push_soon(identity, protocol.ASSISTANT_ERROR, events.error_data(error))
        return send_refused(request, error)


send_admission = GenerationAdmission(
    lambda request: send_request_parse(request.body, request.headers.get("Idempotency-Key"))
)
regenerate_admission = GenerationAdmission(lambda request: regenerate_request_parse(request.body))
edit_admission = GenerationAdmission(
    lambda request: edit_request_parse(request.body, request.headers.get("Idempotency-Key"))
)
