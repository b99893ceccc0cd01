"""A running generation: a task of its own, detached from the request that started it.

The request that started it (and any later reader) only subscribes to its event log, so a client that goes
away ends its subscription, never the answer: the answer is still finished, stored and settled.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings

from chats.models import Message
from chats.push import notify
from chats.services import chat_set_title
from chatsite.errors import ApiError, UpstreamStalled, UpstreamTimeout
from messaging import events
from messaging.control import owners
from messaging.models import LanguageModel
from messaging.providers import PROVIDERS, Prompt, Usage
from messaging.services import (
    FinishedGeneration,
    GenerationPlan,
    StartedGeneration,
    generation_finish,
    title_from_text,
)
from messaging.stream_tokens import stream_token_make
from messaging.streams import LocalStream, hub
from usage.services import QuotaHold

log = logging.getLogger(__name__)
T = TypeVar("T")

_running: set[asyncio.Task[None]] = set()


def _db(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """A generation's database work: in the shared worker pool (no thread per generation), one transaction per
    call, its connection closed after it (a generation outlives any request that could close it)."""
    return database_sync_to_async(function, thread_sensitive=False)  # type: ignore[no-any-return]


@dataclass
class Outcome:
    parts: list[str] = field(default_factory=list)
    usage: Usage | None = None
    status: str = Message.Status.COMPLETE
    error: ApiError | None = None

    @property
    def started(self) -> bool:
        return bool(self.parts)


class Generation:
    def __init__(self, plan: GenerationPlan, hold: QuotaHold, started: StartedGeneration, stream: LocalStream):
        self.plan = plan
        self.hold = hold
        self.started = started
        self.stream = stream
        self.chat_id = str(started.chat_id)
        self.message_id = str(started.message_id)

    async def run(self) -> None:
        try:
            await owners.claim(self.message_id)
            await self._run()
        except Exception:
            log.exception("generation %s crashed", self.message_id)
            if not self.stream.finished:
                self.stream.emit(events.ASSISTANT_ERROR, self._error_payload(ApiError()), final=True)
        finally:
            await self.stream.flushed()  # readers that arrive later find the whole log in Redis
            hub.close(self.stream)
            await owners.release(self.message_id)

    async def _run(self) -> None:
        self._emit_start()
        await self._announce()
        outcome = await self._generate()
        finished = await _db(generation_finish)(
            message_id=self.started.message_id,
            model=self.plan.model,
            hold=self.hold,
            content="".join(outcome.parts),
            status=outcome.status,
            error_code=outcome.error.code if outcome.error else "",
            usage=outcome.usage,
            prompt_estimate=self.plan.prompt_estimate,
            started=outcome.started,
            last_event_id=len(self.stream.events) + 2,  # the two events below end every stream
        )
        usage = finished.caller_usage
        self._emit_end(outcome, finished, usage)
        identity = self.plan.identity
        await notify(identity, events.MESSAGE_CREATED, {"chat_id": self.chat_id, "message": finished.message})
        await notify(identity, events.USAGE_INFO, usage)
        if self.started.chat_created and outcome.status == Message.Status.COMPLETE:
            await self._name_chat()

    def _emit_start(self) -> None:
        payload = {
            "chat_id": self.chat_id,
            "message_id": self.message_id,
            "model": self.plan.model.name,
            "stream_token": stream_token_make(self.message_id),
        }
        if self.started.replaces_id:
            self.stream.emit(events.ASSISTANT_REGENERATING, {**payload, "replaces": str(self.started.replaces_id)})
        else:
            user_message_id = (self.started.user_message or {}).get("id")
            self.stream.emit(events.ASSISTANT_TYPING, {**payload, "user_message_id": user_message_id})

    def _emit_end(self, outcome: Outcome, finished: FinishedGeneration, usage: dict[str, Any]) -> None:
        """The last two events of every stream: the answer (or the error) and the caller's usage."""
        if outcome.error is not None:
            self.stream.emit(events.USAGE_INFO, usage)
            self.stream.emit(events.ASSISTANT_ERROR, self._error_payload(outcome.error), final=True)
            return
        done = events.ASSISTANT_REGENERATED if self.started.replaces_id else events.ASSISTANT_COMPLETE
        result = {"chat_id": self.chat_id, "message_id": self.message_id}
        self.stream.emit(done, {**result, "message": finished.message, "usage": finished.usage})
        self.stream.emit(events.USAGE_INFO, usage, final=True)

    async def _announce(self) -> None:
        """Tell the owner's other sockets about the new turn (once per generation, never per token)."""
        identity, chat = self.plan.identity, self.started.chat
        await notify(
            identity, events.CHAT_CREATED if self.started.chat_created else events.CHAT_UPDATED, {"chat": chat}
        )
        if self.started.user_message is not None:
            await notify(
                identity, events.MESSAGE_CREATED, {"chat_id": self.chat_id, "message": self.started.user_message}
            )

    def _error_payload(self, error: ApiError) -> dict[str, str]:
        return {"chat_id": self.chat_id, "message_id": self.message_id, **error.payload()}

    async def _generate(self) -> Outcome:
        """Run the upstream until it ends, fails or is stopped; whatever arrived is kept."""
        outcome = Outcome()
        consume = asyncio.create_task(self._consume(outcome))
        stop = asyncio.create_task(self.stream.stop_requested.wait())
        await asyncio.wait({consume, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not consume.done():
            consume.cancel()  # closes the upstream response: the provider stops generating (and billing)
            outcome.status = Message.Status.STOPPED
        try:
            await consume
        except asyncio.CancelledError:
            pass
        except ApiError as error:
            outcome.status, outcome.error = Message.Status.FAILED, error
        except Exception:
            log.exception("upstream of %s failed unexpectedly", self.message_id)
            outcome.status, outcome.error = Message.Status.FAILED, ApiError()
        return outcome

    async def _consume(self, outcome: Outcome) -> None:
        stream, parts = self.stream, outcome.parts
        base = {"chat_id": self.chat_id, "message_id": self.message_id}
        upstream = PROVIDERS[self.plan.model.provider].stream(self.plan.model, self.plan.prompt)
        loop = asyncio.get_running_loop()
        stall, moved = settings.UPSTREAM_STALL_TIMEOUT, 0.0
        try:
            async with asyncio.timeout(settings.UPSTREAM_FIRST_TOKEN_TIMEOUT) as deadline:
                async for item in upstream:
                    if isinstance(item, Usage):
                        outcome.usage = item
                        continue
                    parts.append(item)
                    stream.emit(events.ASSISTANT_DELTA, {**base, "delta": item})
                    # Move the deadline at most every tenth of the stall timeout, not on every token: a stall
                    # is then caught between 0.9 and 1.0 times the timeout, at a fraction of the timer work.
                    now = loop.time()
                    if now - moved > stall / 10:
                        deadline.reschedule(now + stall)
                        moved = now
        except TimeoutError:
            raise (UpstreamStalled() if parts else UpstreamTimeout()) from None
        finally:
            await upstream.aclose()  # type: ignore[attr-defined]

    async def _name_chat(self) -> None:
        first = self.plan.request.content or ""
        title = title_from_text(first)
        if self.plan.model.provider != LanguageModel.Provider.ECHO:
            title = await _model_title(self.plan.model, first) or title
        chat = await _db(chat_set_title)(chat_id=self.started.chat_id, title=title)
        if chat is not None:
            await notify(self.plan.identity, events.CHAT_UPDATED, {"chat": chat})


async def _model_title(model: LanguageModel, first: str) -> str | None:
    """Ask the model for a short title; any failure falls back to the first words."""
    prompt = Prompt(
        messages=[
            {"role": "system", "content": "Reply with a title of at most six words for this conversation."},
            {"role": "user", "content": first[:2000]},
        ],
        temperature=0.2,
        max_tokens=20,
    )
    parts: list[str] = []
    try:
        async with asyncio.timeout(10):
            async for item in PROVIDERS[model.provider].stream(model, prompt):
                if isinstance(item, str):
                    parts.append(item)
    except Exception:
        return None
    title = "".join(parts).strip().strip('"').strip()
    return title_from_text(title, words=8, length=80) if title else None


def generation_launch(plan: GenerationPlan, hold: QuotaHold, started: StartedGeneration) -> LocalStream:
    """Start a generation as its own task and return its stream for the caller to follow."""
    stream = hub.open(str(started.message_id))
    owners.ids.add(stream.message_id)  # at once, so the reaper never takes it for an orphan
    generation = Generation(plan, hold, started, stream)

    # A context of its own: the generation must not inherit (and outlive) the request's.
    task = asyncio.create_task(generation.run(), context=contextvars.Context())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return stream


async def generations_drain(timeout: float) -> None:
    """Let running generations finish for up to ``timeout`` seconds, then stop the rest (graceful shutdown)."""
    if not _running:
        return
    _, pending = await asyncio.wait(set(_running), timeout=timeout)
    if pending:
        for stream in hub.running():
            stream.stop_requested.set()
        await asyncio.wait(pending, timeout=5)
