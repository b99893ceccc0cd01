"""Writes to chats and messages: every ``Chat`` and ``Message`` row is written here and nowhere else."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from chats.models import Chat, Message
from chats.selectors import (
    CHAT_TABLE,
    MESSAGE_TABLE,
    branch_last_user_id,
    chat_get_for_owner,
    chat_payload,
    chat_tree,
    message_get_for_owner,
)
from chatsite.errors import GenerationInProgress, NotFound, ValidationError
from chatsite.identity import Identity
from chatsite.sql import execute, fetch_one, insert_rows, time_param, time_value, uuid_param, uuid_value

TITLE_MAX = 200


def chat_create(*, identity: Identity, model: str, title: str = "") -> Chat:
    now = timezone.now()
    chat = Chat(
        id=uuid.uuid4(),
        user_id=identity.user_id,
        anon_id=identity.anon_id,
        model=model,
        title=title,
        created_at=now,
        updated_at=now,
    )
    insert_rows([chat])
    return chat


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
    return chat_payload(chat.pk)


def chat_set_title(*, chat_id: UUID, title: str) -> dict[str, Any] | None:
    """Store a generated title unless the owner named the chat meanwhile (in SQL: it follows every new chat)."""
    now = timezone.now()
    row = fetch_one(
        f"UPDATE {CHAT_TABLE} SET title = %s, updated_at = %s WHERE id = %s AND title = ''"
        f" RETURNING user_id, anon_id, model, created_at, {_SHOWN}, {_STREAMING}",
        [title[:TITLE_MAX], time_param(now), uuid_param(chat_id), Message.Status.STREAMING],
    )
    if row is None:
        return None
    chat = Chat(
        id=chat_id, user_id=row[0], anon_id=row[1], title=title[:TITLE_MAX], model=row[2], created_at=time_value(row[3])
    )
    chat.updated_at = now
    return chat.to_payload(message_count=int(row[4]), streaming_message_id=row[5] and uuid_value(row[5]))


# What a chat's payload needs from its messages, as subqueries of a statement on the chat.
_SHOWN = f"(SELECT COUNT(*) FROM {MESSAGE_TABLE} WHERE chat_id = {CHAT_TABLE}.id AND is_current)"
_STREAMING = f"(SELECT id FROM {MESSAGE_TABLE} WHERE chat_id = {CHAT_TABLE}.id AND status = %s)"


def chat_touch(*, chat_id: UUID) -> datetime:
    """Mark the chat's latest activity (chats are listed by it); returns the time set."""
    now = timezone.now()
    execute(f"UPDATE {CHAT_TABLE} SET updated_at = %s WHERE id = %s", [time_param(now), uuid_param(chat_id)])
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


def _user_message(*, chat: Chat, content: str, model: str, parent_id: UUID | None, position: int) -> Message:
    """A user message not saved yet (its version is worked out first when it may have siblings)."""
    return Message(
        chat=chat, role=Message.Role.USER, content=content, model=model, parent_id=parent_id, position=position
    )


def _answer_create(*, user: Message, model: str, version: int = 1) -> Message:
    """An empty ``streaming`` answer. A chat that is already answering is refused by the partial unique index
    on streaming messages (an ``IntegrityError``)."""
    return Message.objects.create(
        chat_id=user.chat_id,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        position=user.position + 1,
        reply_to=user,
        version=version,
        model=model,
    )


def _next_version(message: Message) -> int:
    return (Message.objects.filter(message.siblings()).aggregate(v=Max("version"))["v"] or 0) + 1


@dataclass(frozen=True)
class TurnStart:
    """A chat locked for a new turn: the chat, the last user message of its current branch (where the turn
    goes if nothing moved it) and how many messages the chat shows before the turn."""

    chat: Chat
    branch_end: UUID | None
    shown: int


def chat_turn_begin(*, chat_id: UUID) -> TurnStart:
    """Lock the chat for a new turn and mark its activity, in one statement (SQL) that also tells where its
    current branch ends and how many messages it shows."""
    now = timezone.now()
    branch_end = (
        f"(SELECT id FROM {MESSAGE_TABLE} WHERE chat_id = {CHAT_TABLE}.id AND is_current AND role = %s"
        " ORDER BY position DESC LIMIT 1)"
    )
    row = fetch_one(
        f"UPDATE {CHAT_TABLE} SET updated_at = %s WHERE id = %s"
        f" RETURNING user_id, anon_id, title, model, created_at, {branch_end}, {_SHOWN}",
        [time_param(now), uuid_param(chat_id), Message.Role.USER],
    )
    if row is None:
        raise NotFound("Chat not found.")
    chat = Chat(id=chat_id, user_id=row[0], anon_id=row[1], title=row[2], model=row[3], created_at=time_value(row[4]))
    chat.updated_at = now
    return TurnStart(chat=chat, branch_end=row[5] and uuid_value(row[5]), shown=int(row[6]))


def turn_insert(*, chat: Chat, after: Message | None, content: str, model: str) -> tuple[Message, Message]:
    """``turn_append`` when the branch has not moved since the plan (the usual case): the user's message and its
    empty ``streaming`` answer, in one statement (SQL). A chat already answering is refused by the partial unique
    index on streaming messages (an ``IntegrityError``)."""
    now, position = timezone.now(), (after.position + 2 if after else 0)
    user = Message(
        id=uuid.uuid4(),
        chat_id=chat.pk,
        role=Message.Role.USER,
        content=content,
        model=model,
        position=position,
        parent_id=after.pk if after else None,
        created_at=now,
    )
    answer = Message(
        id=uuid.uuid4(),
        chat_id=chat.pk,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        model=model,
        position=position + 1,
        reply_to_id=user.pk,
        created_at=now,
    )
    insert_rows([user, answer])
    return user, answer


def turn_append(*, chat: Chat, after: Message | None, content: str, model: str) -> tuple[Message, Message]:
    """A new turn after the user message ``after`` (``None``: the chat's first turn), the end of the branch its
    prompt was planned on: the user's message and its empty ``streaming`` answer.

    If the chat's branch moved since the plan (another tab chose another version, or sent a turn of its own),
    the new turn becomes a version after ``after`` and its branch the current one: a turn always follows the
    messages its prompt holds."""
    position = after.position + 2 if after else 0
    user = _user_message(
        chat=chat, content=content, model=model, parent_id=after.pk if after else None, position=position
    )
    moved = after is not None and branch_last_user_id(chat.pk) != after.pk
    if moved:
        user.version = _next_version(user)
    user.save(force_insert=True)
    answer = _answer_create(user=user, model=model)
    if moved:
        branch_select(chat_id=chat.pk, message_id=user.pk)
    return user, answer


def user_version_append(*, chat: Chat, edits: Message, content: str, model: str) -> tuple[Message, Message]:
    """A new version of the user message ``edits`` and its empty ``streaming`` answer. The new version's branch
    becomes the current one; the turns that followed the old version stay on the old branch."""
    user = _user_message(chat=chat, content=content, model=model, parent_id=edits.parent_id, position=edits.position)
    user.version = _next_version(user)
    user.save(force_insert=True)
    answer = _answer_create(user=user, model=model)
    branch_select(chat_id=chat.pk, message_id=user.pk)
    return user, answer


def answer_version_append(*, chat: Chat, replaces: Message, model: str) -> Message:
    """A new, empty ``streaming`` version of an answer; it becomes the turn's current one (and its branch the
    chat's, if it was not)."""
    assert replaces.reply_to is not None
    answer = _answer_create(user=replaces.reply_to, model=model, version=_next_version(replaces))
    branch_select(chat_id=chat.pk, message_id=answer.pk)
    return answer


def branch_select(*, chat_id: UUID, message_id: UUID) -> None:
    """Make a version the chosen one among its siblings, and show its branch (see ``chats.branches``)."""
    change = chat_tree(chat_id).selection(message_id)
    # Unchosen before chosen, hidden before shown: a reader of the chat never sees two versions of a turn.
    for ids, flags in (
        (change.deselect, {"selected": False}),
        (change.select, {"selected": True}),
        (change.hide, {"is_current": False}),
        (change.show, {"is_current": True}),
    ):
        if ids:
            Message.objects.filter(pk__in=ids).update(**flags)


@transaction.atomic
def message_version_select(*, identity: Identity, message_id: Any) -> Message:
    """Show the caller's message ``message_id`` with its branch; refused while the chat is answering (its
    running answer would leave the branch being shown). Returns the message."""
    message = message_get_for_owner(identity=identity, message_id=message_id)
    chat_lock(chat_id=message.chat_id)
    if Message.objects.filter(chat_id=message.chat_id, status=Message.Status.STREAMING).exists():
        raise GenerationInProgress("This chat is still answering; choose a version when it is done.")
    branch_select(chat_id=message.chat_id, message_id=message.pk)
    return message


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
    reasoning: str = ""


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


def answer_end_store(*, message_id: UUID, end: AnswerEnd) -> Message | None:
    """``answer_finish`` for an answer that is still streaming (the usual case), in SQL: its end stored and its
    chat's activity marked; ``None`` (nothing written) if it was no longer streaming, or is gone."""
    now = timezone.now()
    fields = {**end.__dict__, "finished_at": now}
    sets = ", ".join(f"{name} = %s" for name in fields)
    values = [time_param(now) if name == "finished_at" else value for name, value in fields.items()]
    row = fetch_one(
        f"UPDATE {MESSAGE_TABLE} SET {sets} WHERE id = %s AND status = %s"
        " RETURNING chat_id, role, model, position, version, parent_id, reply_to_id, created_at",
        [*values, uuid_param(message_id), Message.Status.STREAMING],
    )
    if row is None:
        return None
    chat_id = uuid_value(row[0])
    execute(f"UPDATE {CHAT_TABLE} SET updated_at = %s WHERE id = %s", [time_param(now), uuid_param(chat_id)])
    parent, reply_to = (row[5] and uuid_value(row[5])), (row[6] and uuid_value(row[6]))
    answer = Message(id=message_id, chat_id=chat_id, role=row[1], model=row[2], position=row[3], version=row[4])
    answer.parent_id, answer.reply_to_id, answer.created_at = parent, reply_to, time_value(row[7])
    for name, value in fields.items():
        setattr(answer, name, value)
    return answer


def answer_fail_lost(
    *, message_id: str, end_id: int, error_code: str, content: str, reasoning: str = ""
) -> Message | None:
    """Fail a streaming answer whose generation died, keeping the text (and reasoning) its log holds, if any;
    ``None`` if it is no longer streaming."""
    kept = {name: text for name, text in (("content", content), ("reasoning", reasoning)) if text}
    failed = Message.objects.filter(pk=message_id, status=Message.Status.STREAMING).update(
        status=Message.Status.FAILED, error_code=error_code, last_event_id=end_id, finished_at=timezone.now(), **kept
    )
    return Message.objects.select_related("chat").get(pk=message_id) if failed else None
