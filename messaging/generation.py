"""A running generation: a task of its own, detached from the request that started it.

The request that started it (and any later reader) only follows its event log, so a client that goes away
ends its reading, never the answer: the answer is still finished, stored and settled.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from dataclasses import dataclass, field

from django.conf import settings

from chats import protocol
from chats.models import Message
from chats.services import chat_set_title
from chatsite.db import db
from chatsite.errors import ApiError, UpstreamStalled, UpstreamTimeout
from chatsite.outages import DATABASE_OUTAGE_ERRORS, database_outage, database_unavailable
from chatsite.push import push_soon
from messaging import events
from messaging.hub import LocalStream, hub
from messaging.metrics import UPSTREAM_ERRORS, DeltaPace, generation_counted
from messaging.models import LanguageModel
from messaging.owners import owners
from messaging.providers import PROVIDERS, Prompt, Reasoning, Usage, openai_clients_close
from messaging.services import (
    Ending,
    FinishedGeneration,
    GenerationPlan,
    StartedGeneration,
    generation_finish,
    generation_start,
    title_from_text,
)
from messaging.stream_tokens import stream_token_make
from usage.admission import quota_held
from usage.services import QuotaHold

log = logging.getLogger(__name__)

_running: set[asyncio.Task[None]] = set()

STORE_RETRY_SECONDS = 60.0
STORE_RETRY_PAUSE_SECONDS = 0.5


@dataclass
class Outcome:
    """What a generation gathers while it reads the upstream."""

    parts: list[str] = field(default_factory=list)
    thoughts: list[str] = field(default_factory=list)  # the reasoning pieces
    usage: Usage | None = None
    status: str = Message.Status.COMPLETE
    error: ApiError | None = None

    def ending(self, last_event_id: int) -> Ending:
        error_code = self.error.code if self.error else ""
        content, reasoning, started = "".join(self.parts), "".join(self.thoughts), bool(self.parts or self.thoughts)
        return Ending(
            content, self.status, error_code, self.usage, started, last_event_id=last_event_id, reasoning=reasoning
        )


class Generation:
    def __init__(
        self, plan: GenerationPlan, hold: QuotaHold, started: StartedGeneration, stream: LocalStream, accepted: float
    ):
        self.plan = plan
        self.hold = hold
        self.started = started
        self.stream = stream
        self.ids = events.answer_ids(str(started.chat_id), str(started.message_id))
        self.text_deltas = events.Deltas(events.ASSISTANT_DELTA, self.ids)
        self.reasoning_deltas = events.Deltas(events.ASSISTANT_REASONING_DELTA, self.ids)
        self.stream_token = stream_token_make(stream.message_id)
        self.accepted = accepted  # the loop's time when the send was admitted
        self.pace = DeltaPace(accepted)

    @property
    def message_id(self) -> str:
        return self.stream.message_id

    async def run(self) -> None:
        try:
            await self._run()
        except Exception:
            log.exception("generation %s crashed", self.message_id)
            if not self.stream.finished:
                self.stream.emit(events.ASSISTANT_ERROR, events.error_data(ApiError(), **self.ids), final=True)
        finally:
            await self.stream.flushed()  # readers that arrive later find the whole log in Redis
            hub.close(self.stream)
            owners.ids.discard(self.message_id)

    async def _run(self) -> None:
        self._emit_start()
        await self._announce()
        outcome = await self._generate()
        finished = await self._store(outcome)
        self._count(outcome, finished)
        self._emit_end(outcome, finished)
        identity = self.plan.identity
        answer = protocol.message_pushed(self.ids["chat_id"], finished.message)
        await push_soon(identity, protocol.MESSAGE_CREATED, answer)
        await push_soon(identity, protocol.USAGE_INFO, finished.caller_usage)
        if self.started.chat_created and outcome.status == Message.Status.COMPLETE:
            await self._name_chat()

    async def _store(self, outcome: Outcome) -> FinishedGeneration:
        """Store the answer and settle it; while the database is unreachable, try again for up to
        ``STORE_RETRY_SECONDS`` (the answer is generated and paid for: it must not be lost to a blip). Its
        readers get pings meanwhile, and its owner key keeps it from being reaped."""
        finish = functools.partial(
            db(generation_finish),
            message_id=self.started.message_id,
            model=self.plan.model,
            identity=self.plan.identity,
            hold=self.hold,
            ending=outcome.ending(last_event_id=events.last_id_when_ended(self.stream.last_id)),
            prompt_estimate=self.plan.prompt_estimate,
        )
        deadline = asyncio.get_running_loop().time() + STORE_RETRY_SECONDS
        while True:
            try:
                return await finish()
            except DATABASE_OUTAGE_ERRORS as error:
                if not database_outage(error) or asyncio.get_running_loop().time() >= deadline:
                    raise
                database_unavailable(error, "storing an answer")
                await asyncio.sleep(STORE_RETRY_PAUSE_SECONDS)

    def _count(self, outcome: Outcome, finished: FinishedGeneration) -> None:
        generation_counted(
            model=self.plan.model.name,
            status=outcome.status,
            error_code=outcome.error.code if outcome.error else "",
            seconds=asyncio.get_running_loop().time() - self.accepted,
            tokens=(finished.tokens.prompt_tokens, finished.tokens.completion_tokens),
            charged=finished.charged,
        )

    def _emit_start(self) -> None:
        payload = {**self.ids, "model": self.plan.model.name, "stream_token": self.stream_token}
        if self.started.replaces_id:
            self.stream.emit(events.ASSISTANT_REGENERATING, {**payload, "replaces": str(self.started.replaces_id)})
        else:
            user_message_id = (self.started.user_message or {}).get("id")
            self.stream.emit(events.ASSISTANT_TYPING, {**payload, "user_message_id": user_message_id})

    def _emit_end(self, outcome: Outcome, finished: FinishedGeneration) -> None:
        """The last END_EVENTS events of every stream: the answer (or the error) and the caller's usage."""
        if outcome.error is not None:
            self.stream.emit(events.USAGE_INFO, finished.caller_usage)
            self.stream.emit(events.ASSISTANT_ERROR, events.error_data(outcome.error, **self.ids), final=True)
            return
        name = events.end_name(regenerated=self.started.replaces_id is not None)
        self.stream.emit(name, events.end_data(**self.ids, message=finished.message, usage=finished.usage))
        self.stream.emit(events.USAGE_INFO, finished.caller_usage, final=True)

    async def _announce(self) -> None:
        """Tell the owner's sockets about the new turn, and how to follow its answer (once per generation, never
        per token)."""
        identity, started, chat_id = self.plan.identity, self.started, self.ids["chat_id"]
        created = protocol.CHAT_CREATED if started.chat_created else protocol.CHAT_UPDATED
        await push_soon(identity, created, protocol.chat_pushed(started.chat))
        if started.user_message is not None:
            await push_soon(identity, protocol.MESSAGE_CREATED, protocol.message_pushed(chat_id, started.user_message))
        if started.branch is not None:
            await push_soon(identity, protocol.MESSAGES_LIST, started.branch)
        started_data = protocol.generation_started(chat_id, self.message_id, self.stream_token)
        await push_soon(identity, protocol.GENERATION_STARTED, started_data)

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
        except ApiError as error:  # the provider's failure (or its silence: a timeout)
            UPSTREAM_ERRORS.labels(code=error.code).inc()
            outcome.status, outcome.error = Message.Status.FAILED, error
        except Exception:
            log.exception("upstream of %s failed unexpectedly", self.message_id)
            outcome.status, outcome.error = Message.Status.FAILED, ApiError()
        return outcome

    async def _consume(self, outcome: Outcome) -> None:
        stream, parts, pace = self.stream, outcome.parts, self.pace
        upstream = PROVIDERS[self.plan.model.provider].stream(self.plan.model, self.plan.prompt)
        loop = asyncio.get_running_loop()
        stall, moved = settings.UPSTREAM_STALL_TIMEOUT, 0.0
        try:
            async with asyncio.timeout(settings.UPSTREAM_FIRST_TOKEN_TIMEOUT) as deadline:
                async for item in upstream:
                    if isinstance(item, Usage):
                        outcome.usage = item
                        continue
                    if isinstance(item, Reasoning):
                        self._think(outcome, item)
                    else:
                        parts.append(item)
                        stream.emit_delta(self.text_deltas, item)
                    # Move the deadline at most every tenth of the stall timeout, not on every token: a stall
                    # is then caught between 0.9 and 1.0 times the timeout, at a fraction of the timer work.
                    now = loop.time()
                    pace.delta(now)
                    if now - moved > stall / 10:
                        deadline.reschedule(now + stall)
                        moved = now
        except TimeoutError:
            raise (UpstreamStalled() if parts or outcome.thoughts else UpstreamTimeout()) from None
        finally:
            await upstream.aclose()  # type: ignore[attr-defined]

    def _think(self, outcome: Outcome, item: Reasoning) -> None:
        """A piece of reasoning: streamed and kept, unless the model's catalog entry turns reasoning off."""
        if self.plan.model.reasoning:
            outcome.thoughts.append(item.text)
            self.stream.emit_delta(self.reasoning_deltas, item.text)

    async def _name_chat(self) -> None:
        first = self.plan.request.content or ""
        title = title_from_text(first)
        if self.plan.model.provider != LanguageModel.Provider.ECHO:
            title = await _model_title(self.plan.model, first) or title
        try:
            chat = await db(chat_set_title)(chat_id=self.started.chat_id, title=title)
        except DATABASE_OUTAGE_ERRORS as error:  # the chat keeps no title until it is renamed
            database_unavailable(error, "naming a chat")
            return
        if chat is not None:
            await push_soon(self.plan.identity, protocol.CHAT_UPDATED, protocol.chat_pushed(chat))


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


def generation_launch(
    plan: GenerationPlan, hold: QuotaHold, started: StartedGeneration, *, accepted: float
) -> LocalStream:
    """Start a generation (admitted at the loop's time ``accepted``) as its own task and return its stream for the
    caller to follow."""
    stream = hub.open(str(started.message_id))
    owners.ids.add(stream.message_id)  # at once, so the reaper never takes it for an orphan
    generation = Generation(plan, hold, started, stream, accepted)
    # A context of its own: the generation must not inherit (and outlive) the request's.
    task = asyncio.create_task(generation.run(), context=contextvars.Context())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return stream


async def generation_begin(plan: GenerationPlan, hold: QuotaHold) -> LocalStream:
    """Write the turn and launch its generation, which from then on owns the hold; if either fails, the hold is
    given back. Run shielded by the caller: a client that leaves meanwhile must not cut between the rows being
    written and the generation starting (that would leave an answer ``streaming`` with nobody running it)."""
    accepted = asyncio.get_running_loop().time()
    async with quota_held(hold):
        started = await db(generation_start)(plan=plan, hold=hold)
        return generation_launch(plan, hold, started, accepted=accepted)


async def generations_drain(timeout: float) -> None:
    """Let running generations finish for up to ``timeout`` seconds, then stop the rest (graceful shutdown)."""
    if _running:
        _, pending = await asyncio.wait(set(_running), timeout=timeout)
        if pending:
            for stream in hub.running():
                stream.stop_requested.set()
            await asyncio.wait(pending, timeout=5)
    await openai_clients_close()
