"""Generation writes: plan a send or regenerate, start it (one transaction), finish it (one transaction).

A generation touches the database a bounded number of times whatever the answer's length: the plan reads,
the start writes the user turn and an empty ``streaming`` answer, the finish stores the answer and settles
its cost. Nothing happens per token here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_UP, Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from chats.models import Chat, Message
from chats.selectors import (
    chat_get_for_owner,
    chat_message_count,
    message_get_for_owner,
    message_history,
)
from chats.services import chat_create, chat_touch
from chatsite.errors import GenerationInProgress, IdempotencyMismatch, NotFound, ValidationError
from chatsite.identity import Identity
from messaging.catalog import model_resolve
from messaging.models import PER_MILLION, LanguageModel, SendKey
from messaging.providers import Prompt, Usage
from messaging.requests import GenerationRequest
from messaging.tokens import PER_MESSAGE_OVERHEAD, estimate_prompt_tokens, estimate_tokens
from usage.selectors import usage_info
from usage.services import QuotaHold, anon_message_release, reservation_attach, reservation_settle

CREDIT_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True)
class GenerationPlan:
    """Everything a generation needs, checked before any quota is taken or any row written."""

    identity: Identity
    request: GenerationRequest
    model: LanguageModel
    prompt: Prompt
    prompt_estimate: int
    chat_id: UUID | None = None
    replaces: Message | None = None

    @property
    def reserve(self) -> Decimal:
        """The most this generation can cost: what a user's balance must cover before it starts."""
        worst = self.prompt_estimate * self.model.input_price + self.prompt.max_tokens * self.model.output_price
        return (worst / PER_MILLION).quantize(CREDIT_QUANTUM, rounding=ROUND_UP)


def _prompt_messages(history: list[Message], last_user: str) -> tuple[list[dict[str, str]], int]:
    """System prompt, then as many recent turns as fit the token budget, then the user's message."""
    head = [{"role": "system", "content": settings.SYSTEM_PROMPT}] if settings.SYSTEM_PROMPT else []
    tail = [{"role": "user", "content": last_user}]
    budget = settings.HISTORY_TOKEN_BUDGET - estimate_prompt_tokens(head + tail)
    kept: list[dict[str, str]] = []
    for message in reversed(history):
        cost = estimate_tokens(message.content) + PER_MESSAGE_OVERHEAD
        if cost > budget or not message.content:
            break
        budget -= cost
        kept.append({"role": message.role, "content": message.content})
    messages = head + kept[::-1] + tail
    return messages, estimate_prompt_tokens(messages)


def _prompt(model: LanguageModel, request: GenerationRequest, history: list[Message], last: str) -> tuple[Prompt, int]:
    messages, estimate = _prompt_messages(history, last)
    max_tokens = min(request.max_tokens or model.max_output_tokens, model.max_output_tokens)
    return Prompt(messages=messages, temperature=request.temperature, max_tokens=max_tokens), estimate


def send_replay_of(*, identity: Identity, request: GenerationRequest) -> UUID | None:
    """The answer of an earlier send with the same idempotency key, if any (a different body is refused)."""
    if request.client_message_id is None:
        return None
    key = SendKey.objects.filter(owner_key=identity.key, key=request.client_message_id).first()
    if key is None:
        return None
    if key.request_hash != request.fingerprint():
        raise IdempotencyMismatch()
    return key.assistant_message_id


def generation_plan(*, identity: Identity, request: GenerationRequest) -> GenerationPlan:
    """Check a send or regenerate and work out its prompt and model; nothing is written."""
    replaces = chat = None
    default_model: str | None
    if request.is_regenerate:
        replaces = message_get_for_owner(identity=identity, message_id=request.message_id)
        if replaces.role != Message.Role.ASSISTANT or replaces.reply_to is None:
            raise ValidationError("message_id must name an assistant message.")
        chat, turn = replaces.chat, replaces.reply_to  # only the history before the turn it answered
        history = message_history(chat_id=chat.pk, before_position=turn.position)
        default_model, last = replaces.model or chat.model, turn.content
    else:
        chat = chat_get_for_owner(identity=identity, chat_id=request.chat_id) if request.chat_id else None
        history = message_history(chat_id=chat.pk, before_position=2**31) if chat else []
        default_model, last = (chat.model if chat else None), request.content or ""
    model = model_resolve(identity=identity, name=request.model or default_model)
    prompt, estimate = _prompt(model, request, history, last)
    return GenerationPlan(
        identity=identity,
        request=request,
        model=model,
        prompt=prompt,
        prompt_estimate=estimate,
        chat_id=chat.pk if chat else None,
        replaces=replaces,
    )


@dataclass(frozen=True)
class StartedGeneration:
    chat_id: UUID
    message_id: UUID
    chat_created: bool
    chat: dict[str, Any]
    user_message: dict[str, Any] | None
    replaces_id: UUID | None


def generation_start(*, plan: GenerationPlan, hold: QuotaHold) -> StartedGeneration:
    """Write the user's turn and an empty ``streaming`` answer; refuse if the chat is already answering."""
    try:
        with transaction.atomic():
            return _start(plan, hold)
    except IntegrityError:
        # The partial unique index on streaming messages (or a racing idempotency key) caught a second
        # generation for this chat that slipped past the check below.
        raise GenerationInProgress() from None


def _start(plan: GenerationPlan, hold: QuotaHold) -> StartedGeneration:
    identity = plan.identity
    created = plan.chat_id is None
    locked = (
        chat_create(identity=identity, model=plan.model.name)
        if plan.chat_id is None
        else Chat.objects.select_for_update().filter(pk=plan.chat_id).first()
    )
    if locked is None:
        raise NotFound("Chat not found.")
    chat = locked
    # A chat already answering is refused by the partial unique index on streaming messages (the IntegrityError
    # becomes GENERATION_IN_PROGRESS above, and the turn written so far is rolled back with it).
    user_message = None
    if plan.replaces is None:
        user_message, answer = _append_turn(chat, plan)
    else:
        answer = _append_version(chat, plan)
    if plan.request.client_message_id:
        SendKey.objects.create(
            owner_key=identity.key,
            key=plan.request.client_message_id,
            request_hash=plan.request.fingerprint(),
            assistant_message=answer,
        )
    if hold.reservation_id:
        reservation_attach(reservation_id=hold.reservation_id, message_id=answer.pk)
    chat.updated_at = chat_touch(chat_id=chat.pk)
    return StartedGeneration(
        chat_id=chat.pk,
        message_id=answer.pk,
        chat_created=created,
        chat=chat.to_payload(message_count=chat_message_count(chat.pk)),
        user_message=user_message.to_payload() if user_message else None,
        replaces_id=plan.replaces.pk if plan.replaces else None,
    )


def _append_turn(chat: Chat, plan: GenerationPlan) -> tuple[Message, Message]:
    last = Message.objects.filter(chat=chat).aggregate(last=Max("position"))["last"]
    position = 0 if last is None else last + 2 - (last % 2)
    user = Message.objects.create(
        chat=chat,
        role=Message.Role.USER,
        content=plan.request.content or "",
        position=position,
        model=plan.model.name,
    )
    answer = Message.objects.create(
        chat=chat,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        position=position + 1,
        reply_to=user,
        model=plan.model.name,
    )
    return user, answer


def _append_version(chat: Chat, plan: GenerationPlan) -> Message:
    assert plan.replaces is not None
    turn = Message.objects.filter(chat=chat, position=plan.replaces.position)
    version = (turn.aggregate(v=Max("version"))["v"] or 0) + 1
    turn.update(is_current=False)
    return Message.objects.create(
        chat=chat,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        position=plan.replaces.position,
        version=version,
        reply_to_id=plan.replaces.reply_to_id,
        model=plan.model.name,
    )


@dataclass(frozen=True)
class FinishedGeneration:
    message: dict[str, Any]
    usage: dict[str, Any]  # the answer's tokens and cost
    caller_usage: dict[str, Any]  # the caller's usage_info after the settlement


def generation_finish(
    *,
    message_id: UUID,
    model: LanguageModel,
    hold: QuotaHold,
    content: str,
    status: str,
    error_code: str = "",
    usage: Usage | None,
    prompt_estimate: int,
    started: bool,
    last_event_id: int = 0,
) -> FinishedGeneration:
    """Store the answer and settle its cost in one transaction: charged once, never above the reservation."""
    if usage is None:
        # The upstream reported nothing: estimate, and charge no prompt for an answer that never started.
        usage = Usage(prompt_estimate if started else 0, estimate_tokens(content))
    cost = model.cost(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)
    with transaction.atomic():
        # Locked, so a chat deleted meanwhile is either gone before this settles or waits until it has.
        message = Message.objects.select_for_update().filter(pk=message_id).first()
        cost = _settle(hold, cost, message_id=message.pk if message else None, refund=not started and bool(error_code))
        if message is not None:
            ended = {
                "content": content,
                "status": status,
                "error_code": error_code,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cost": cost,
                "last_event_id": last_event_id,
                "finished_at": timezone.now(),
            }
            if Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(**ended):
                for field, value in ended.items():
                    setattr(message, field, value)
            else:  # ended meanwhile (the reaper took it for dead): report what is stored
                message.refresh_from_db()
            chat_touch(chat_id=message.chat_id)
    if message is not None:
        # No newer version of a turn can start while one of its answers streams: this one is the newest.
        payload = message.to_payload(versions=message.version)
    else:  # the chat was deleted while it answered: nothing is stored, say so
        payload = {"id": str(message_id), "role": "assistant", "content": content, "status": status, "deleted": True}
    usage_payload = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
    return FinishedGeneration(
        message=payload,
        usage={**usage_payload, "cost": f"{cost:.6f}"},
        # Read here, in the same database call: one connection per finished answer, not two.
        caller_usage=usage_info(identity=hold.identity),
    )


def _settle(hold: QuotaHold, cost: Decimal, *, message_id: UUID | None, refund: bool) -> Decimal:
    """Charge a user's reservation (what the answer cost, capped); give a guest's failed message back."""
    if hold.anon_counted and refund and hold.identity.anon_id:
        anon_message_release(anon_id=hold.identity.anon_id, ip=hold.ip)
    if hold.reservation_id:
        return reservation_settle(reservation_id=hold.reservation_id, cost=cost, message_id=message_id)
    if hold.identity.user_id is not None:
        return Decimal("0")  # a free model for a user: nothing was reserved, nothing is charged
    return cost  # a guest: what the answer would have cost, for the record; guests are not charged


def title_from_text(text: str, words: int = 6, length: int = 60) -> str:
    title = " ".join(text.split()[:words])
    return title[:length].rstrip() or "New chat"
