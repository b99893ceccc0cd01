"""Generation writes: plan a send or regenerate, start it (one transaction), finish it (one transaction).

A generation touches the database a bounded number of times whatever the answer's length: the plan reads,
the start writes the user turn and an empty ``streaming`` answer, the finish stores the answer and settles
its cost. Nothing happens per token here.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction

from chats import protocol
from chats.models import Chat, Message
from chats.selectors import (
    branch_history,
    branch_recent,
    chat_for_send,
    chat_message_count,
    message_get_for_owner,
)
from chats.services import (
    AnswerEnd,
    answer_end_store,
    answer_finish,
    answer_lock,
    answer_version_append,
    chat_create,
    chat_lock,
    chat_touch,
    chat_turn_begin,
    turn_append,
    turn_insert,
    user_version_append,
)
from chatsite.errors import GenerationInProgress, IdempotencyMismatch, ValidationError
from chatsite.identity import Identity
from messaging import events
from messaging.catalog import model_resolve
from messaging.models import PER_MILLION, LanguageModel, SendKey
from messaging.prompts import prompt_build
from messaging.providers import Prompt, Usage
from messaging.requests import GenerationRequest
from messaging.tokens import PER_MESSAGE_OVERHEAD, estimate_tokens
from usage.money import ZERO, credits, credits_text
from usage.selectors import usage_info
from usage.services import QuotaHold, hold_close, reservation_attach


@dataclass(frozen=True)
class GenerationPlan:
    """Everything a generation needs, checked before any quota is taken or any row written."""

    identity: Identity
    request: GenerationRequest
    model: LanguageModel
    prompt: Prompt
    prompt_estimate: int
    chat_id: UUID | None = None
    after: Message | None = None  # a send: the last user message of the branch the prompt holds
    replaces: Message | None = None  # a regenerate: the answer it gives a new version of
    edits: Message | None = None  # an edit: the user message it gives a new version of

    @property
    def reserve(self) -> Decimal:
        """The most this generation can cost: what a user's balance must cover before it starts."""
        worst = self.prompt_estimate * self.model.input_price + self.prompt.max_tokens * self.model.output_price
        return credits(worst / PER_MILLION, round_up=True)


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


@dataclass(frozen=True)
class _Turn:
    """What a request answers: its chat, the history before it, its user message, and the model it defaults to."""

    chat: Chat | None
    history: list[Message]
    last: str
    default_model: str | None
    after: Message | None = None
    replaces: Message | None = None
    edits: Message | None = None


# The most messages a prompt can hold: each costs at least the per-message overhead (messaging/prompts.py).
HISTORY_MESSAGES_MAX = settings.HISTORY_TOKEN_BUDGET // PER_MESSAGE_OVERHEAD + 1


def _send_turn(identity: Identity, request: GenerationRequest) -> _Turn:
    chat = chat_for_send(identity=identity, chat_id=request.chat_id) if request.chat_id else None
    if chat is None:
        return _Turn(None, [], request.content or "", None)
    history = branch_recent(chat_id=chat.pk, limit=HISTORY_MESSAGES_MAX)
    after = next((message for message in reversed(history) if message.role == Message.Role.USER), None)
    return _Turn(chat, history, request.content or "", chat.model, after=after)


def _regenerate_turn(identity: Identity, request: GenerationRequest) -> _Turn:
    replaces = message_get_for_owner(identity=identity, message_id=request.message_id)
    if replaces.role != Message.Role.ASSISTANT or replaces.reply_to is None:
        raise ValidationError("message_id must name an assistant message.")
    turn = replaces.reply_to  # only the branch above the turn it answered
    history = branch_history(chat_id=replaces.chat_id, last_user_id=turn.parent_id)
    return _Turn(replaces.chat, history, turn.content, replaces.model or replaces.chat.model, replaces=replaces)


def _edit_turn(identity: Identity, request: GenerationRequest) -> _Turn:
    edits = message_get_for_owner(identity=identity, message_id=request.message_id)
    if edits.role != Message.Role.USER:
        raise ValidationError("message_id must name a user message.")
    history = branch_history(chat_id=edits.chat_id, last_user_id=edits.parent_id)
    return _Turn(edits.chat, history, request.content or "", edits.chat.model, edits=edits)


def generation_plan(*, identity: Identity, request: GenerationRequest) -> GenerationPlan:
    """Check a send, regenerate or edit and work out its prompt and model; nothing is written."""
    if request.is_edit:
        turn = _edit_turn(identity, request)
    elif request.is_regenerate:
        turn = _regenerate_turn(identity, request)
    else:
        turn = _send_turn(identity, request)
    model = model_resolve(identity=identity, name=request.model or turn.default_model)
    prompt, estimate = prompt_build(model, request, turn.history, turn.last)
    chat_id = turn.chat.pk if turn.chat else None
    return GenerationPlan(
        identity, request, model, prompt, estimate, chat_id, after=turn.after, replaces=turn.replaces, edits=turn.edits
    )


@dataclass(frozen=True)
class StartedGeneration:
    chat_id: UUID
    message_id: UUID
    chat_created: bool
    chat: dict[str, Any]
    user_message: dict[str, Any] | None
    replaces_id: UUID | None
    branch: dict[str, Any] | None = None  # the chat's new branch, when the turn moved it (a messages_list payload)


def generation_start(*, plan: GenerationPlan, hold: QuotaHold) -> StartedGeneration:
    """Write the user's turn and an empty ``streaming`` answer; refuse if the chat is already answering."""
    try:
        with transaction.atomic():
            return _start(plan, hold)
    except IntegrityError:
        # The partial unique index on streaming messages (or a racing idempotency key) caught a second
        # generation for this chat; the turn written so far is rolled back with it.
        raise GenerationInProgress() from None


def _start(plan: GenerationPlan, hold: QuotaHold) -> StartedGeneration:
    user_message: Message | None
    if plan.replaces is None and plan.edits is None:
        chat, user_message, answer, shown = _send_rows(plan)
    else:
        assert plan.chat_id is not None  # a regenerate or an edit answers in its message's chat
        chat = chat_lock(chat_id=plan.chat_id)
        user_message, answer = _write_answer(chat, plan)
        chat.updated_at = chat_touch(chat_id=chat.pk)
        shown = chat_message_count(chat.pk)
    if plan.request.client_message_id:
        SendKey.objects.create(
            owner_key=plan.identity.key,
            key=plan.request.client_message_id,
            request_hash=plan.request.fingerprint(),
            assistant_message_id=answer.pk,
        )
    if hold.reservation_id:
        reservation_attach(reservation_id=hold.reservation_id, message_id=answer.pk)
    return StartedGeneration(
        chat_id=chat.pk,
        message_id=answer.pk,
        chat_created=plan.chat_id is None,
        chat=chat.to_payload(message_count=shown, streaming_message_id=answer.pk),
        # A new user message (or version) is the newest of its versions.
        user_message=user_message.to_payload(versions=user_message.version) if user_message else None,
        replaces_id=plan.replaces.pk if plan.replaces else None,
        branch=protocol.messages_listed(chat) if _moves_branch(plan) else None,
    )


def _send_rows(plan: GenerationPlan) -> tuple[Chat, Message, Message, int]:
    """A send's rows: its chat (new, or locked with its activity marked) and its turn, in as few statements as
    the rules allow; and how many messages the chat shows after it."""
    content, model = plan.request.content or "", plan.model.name
    if plan.chat_id is None:
        chat = chat_create(identity=plan.identity, model=model)
        return (chat, *turn_insert(chat=chat, after=None, content=content, model=model), 2)
    start = chat_turn_begin(chat_id=plan.chat_id)
    if start.branch_end == (plan.after.pk if plan.after else None):
        return (
            start.chat,
            *turn_insert(chat=start.chat, after=plan.after, content=content, model=model),
            start.shown + 2,
        )
    # The branch moved since the plan (another tab): the careful way, which keeps the prompt's branch.
    user, answer = turn_append(chat=start.chat, after=plan.after, content=content, model=model)
    return start.chat, user, answer, chat_message_count(start.chat.pk)


def _moves_branch(plan: GenerationPlan) -> bool:
    """Whether the turn shows another branch than the one shown before: an edit, or a regenerate of an answer
    on a branch not shown (other tabs are then sent the new branch)."""
    return plan.edits is not None or (plan.replaces is not None and not plan.replaces.is_current)


def _write_answer(chat: Chat, plan: GenerationPlan) -> tuple[Message | None, Message]:
    content, model = plan.request.content or "", plan.model.name
    if plan.replaces is not None:
        return None, answer_version_append(chat=chat, replaces=plan.replaces, model=model)
    if plan.edits is not None:
        return user_version_append(chat=chat, edits=plan.edits, content=content, model=model)
    return turn_append(chat=chat, after=plan.after, content=content, model=model)


@dataclass(frozen=True)
class Ending:
    """How a generation ended, as it saw it: the text, its status, the usage the upstream reported (if any),
    whether any text arrived, and the id of the last event its stream will have."""

    content: str
    status: str
    error_code: str = ""
    usage: Usage | None = None
    started: bool = True
    last_event_id: int = 0
    reasoning: str = ""


@dataclass(frozen=True)
class FinishedGeneration:
    message: dict[str, Any]
    usage: dict[str, Any]  # the answer's tokens and cost
    caller_usage: dict[str, Any]  # the caller's usage_info after the settlement
    tokens: Usage  # the tokens settled: the provider's usage, or an estimate
    charged: Decimal  # what the caller's balance was charged (a guest is never charged)


def generation_finish(
    *, message_id: UUID, model: LanguageModel, identity: Identity, hold: QuotaHold, ending: Ending, prompt_estimate: int
) -> FinishedGeneration:
    """Store the answer and settle its cost in one transaction: charged once, never above the reservation."""
    # The upstream reported nothing: estimate, and charge no prompt for an answer that never started.
    completion = estimate_tokens(ending.content) + estimate_tokens(ending.reasoning)
    usage = ending.usage or Usage(prompt_estimate if ending.started else 0, completion)
    cost = model.cost(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens)
    with transaction.atomic():
        answer, cost = _settle(message_id, hold, cost, ending, usage)
    return FinishedGeneration(
        message=_finished_payload(answer, message_id, ending),
        usage=events.answer_usage(
            prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, cost=credits_text(cost)
        ),
        # Read here, in the same database call: one connection per finished answer, not two.
        caller_usage=usage_info(identity=identity),
        tokens=usage,
        charged=ZERO if hold.anon_id is not None else cost,
    )


def _settle(
    message_id: UUID, hold: QuotaHold, cost: Decimal, ending: Ending, usage: Usage
) -> tuple[Message | None, Decimal]:
    """Store the answer and close its hold; the stored answer (``None``: its chat was deleted) and the cost it
    is recorded at. The answer is written first (it locks the row), in one statement while it still streams."""
    give_back = not ending.started and bool(ending.error_code)
    recorded = hold.recorded_cost(cost)
    if recorded is not None:
        answer = answer_end_store(message_id=message_id, end=_answer_end(ending, usage, recorded))
        if answer is not None:
            return answer, hold_close(hold=hold, cost=cost, message_id=message_id, give_back=give_back)
    # Not streaming any more: the reaper took it for dead (it keeps the reaper's end), or its chat was deleted.
    # (Or a hold that must read its reservation to know the charge.)
    answer = answer_lock(message_id=message_id)
    cost = hold_close(hold=hold, cost=cost, message_id=answer.pk if answer else None, give_back=give_back)
    if answer is not None:
        answer = answer_finish(answer=answer, end=_answer_end(ending, usage, cost))
    return answer, cost


def _answer_end(ending: Ending, usage: Usage, cost: Decimal) -> AnswerEnd:
    return AnswerEnd(
        content=ending.content,
        status=ending.status,
        error_code=ending.error_code,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost=cost,
        last_event_id=ending.last_event_id,
        reasoning=ending.reasoning,
    )


def _finished_payload(answer: Message | None, message_id: UUID, ending: Ending) -> dict[str, Any]:
    if answer is not None:
        # No newer version of a turn can start while one of its answers streams: this one is the newest.
        return answer.to_payload(versions=answer.version)
    # The chat was deleted while it answered: nothing is stored, say so.
    return {
        "id": str(message_id),
        "role": "assistant",
        "content": ending.content,
        "status": ending.status,
        "deleted": True,
    }


def title_from_text(text: str, words: int = 6, length: int = 60) -> str:
    title = " ".join(text.split()[:words])
    return title[:length].rstrip() or "New chat"
