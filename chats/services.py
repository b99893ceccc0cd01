"""Writes to chats and messages: every ``Chat`` and ``Message`` row is written here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from chats.models import Chat, Message
from chats.selectors import chat_get_for_owner, chat_message_count
from chatsite.errors import NotFound, ValidationError
from chatsite.identity import Identity

TITLE_MAX = 200


def chat_create(*, identity: Identity, model: str, title: str = "") -> Chat:
    return Chat.objects.create(user_id=identity.user_id, anon_id=identity.anon_id, model=model, title=title)


def chat_lock(*, chat_id: UUID) -> Chat:
    """The chat, locked until the end of the transaction (a chat deleted meanwhile is not found)."""
    chat = Chat.objects.select_for_update().filter(pk=chat_id).first()
    if chat is None:
        raise NotFound("Chat not found.")
    return chat


def chat_rename(*, identity: Identity, chat_id: Any, title: Any) -> dict[str, Any]:
    if not isinstance(title, str) or not title.strip():
        raise ValidationError("title must be a non-empty string.")
    if len(title.strip()) > TITLE_MAX:
        raise ValidationError(f"title must be at most {TITLE_MAX} characters.")
    chat = chat_get_for_owner(identity=identity, chat_id=chat_id)
    chat.title = title.strip()
    chat.save(update_fields=["title", "updated_at"])
    return chat.to_payload(message_count=chat_message_count(chat.pk))


def chat_set_title(*, chat_id: Any, title: str) -> dict[str, Any] | None:
    """Store a generated title unless the owner named the chat meanwhile."""
    updated = Chat.objects.filter(pk=chat_id, title="").update(title=title[:TITLE_MAX], updated_at=timezone.now())
    if not updated:
        return None
    chat = Chat.objects.get(pk=chat_id)
    return chat.to_payload(message_count=chat_message_count(chat.pk))


def chat_touch(*, chat_id: Any) -> datetime:
    """Mark the chat's latest activity (chats are listed by it); returns the time set."""
    now = timezone.now()
    Chat.objects.filter(pk=chat_id).update(updated_at=now)
    return now


@transaction.atomic
def chat_delete(*, identity: Identity, chat_id: Any) -> dict[str, Any]:
    chat = chat_get_for_owner(identity=identity, chat_id=chat_id)
    payload = {"chat_id": str(chat.pk)}
    # Lock the messages before the cascade touches their reservations: a finishing answer locks its message
    # and then its reservation, and the same order here means the two wait for each other instead of deadlocking.
    list(Message.objects.select_for_update().filter(chat=chat).values_list("pk", flat=True))
    chat.delete()
    return payload


@transaction.atomic
def chats_claim_for_user(*, anon_id: str, user_id: int) -> int:
    """Move a guest's chats to the account they just signed up for or logged in to."""
    return Chat.objects.filter(anon_id=anon_id, user__isnull=True).update(
        anon_id=None, user_id=user_id, updated_at=timezone.now()
    )


def turn_append(*, chat: Chat, content: str, model: str) -> tuple[Message, Message]:
    """A new turn at the end of the chat: the user's message and its empty ``streaming`` answer. A chat that is
    already answering is refused by the partial unique index on streaming messages (an ``IntegrityError``)."""
    last = Message.objects.filter(chat=chat).aggregate(last=Max("position"))["last"]
    position = 0 if last is None else last + 2 - (last % 2)
    user = Message.objects.create(chat=chat, role=Message.Role.USER, content=content, position=position, model=model)
    answer = Message.objects.create(
        chat=chat,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        position=position + 1,
        reply_to=user,
        model=model,
    )
    return user, answer


def answer_version_append(*, chat: Chat, replaces: Message, model: str) -> Message:
    """A new, empty ``streaming`` version of an answer; it becomes the turn's current one."""
    turn = Message.objects.filter(chat=chat, position=replaces.position)
    version = (turn.aggregate(v=Max("version"))["v"] or 0) + 1
    turn.update(is_current=False)
    return Message.objects.create(
        chat=chat,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        position=replaces.position,
        version=version,
        reply_to_id=replaces.reply_to_id,
        model=model,
    )


def answer_lock(*, message_id: UUID) -> Message | None:
    """The answer, locked until the end of the transaction, so a chat deleted meanwhile is either gone before
    the caller settles or waits until it has (``None``: already deleted)."""
    return Message.objects.select_for_update().filter(pk=message_id).first()


@dataclass(frozen=True)
class AnswerEnd:
    """How an answer ended: what is stored when its generation finishes."""

    content: str
    status: str
    error_code: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal("0")
    last_event_id: int = 0


def answer_finish(*, answer: Message, end: AnswerEnd) -> Message:
    """Store the end of a streaming answer; one that ended meanwhile (the reaper took it for dead) is kept as
    stored. Returns the answer as stored, its chat's activity marked."""
    ended = {**end.__dict__, "finished_at": timezone.now()}
    if Message.objects.filter(pk=answer.pk, status=Message.Status.STREAMING).update(**ended):
        for field, value in ended.items():
            setattr(answer, field, value)
    else:
        answer.refresh_from_db()
    chat_touch(chat_id=answer.chat_id)
    return answer


def answer_fail_lost(*, message_id: str, end_id: int, error_code: str, content: str) -> Message | None:
    """Fail a streaming answer whose generation died, keeping the text its log holds (if any); ``None`` if it
    is no longer streaming."""
    kept = {"content": content} if content else {}
    failed = Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
        status=Message.Status.FAILED, error_code=error_code, last_event_id=end_id, finished_at=timezone.now(), **kept
    )
    return Message.objects.select_related("chat").get(pk=message_id) if failed else None
