"""Reads of chats and messages, always scoped to the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, UUIDField
from django.db.models.functions import Coalesce

from chats.branches import Node, Tree
from chats.models import Chat, Message
from chatsite.errors import NotFound
from chatsite.identity import Identity
from chatsite.sql import fetch_all, fetch_one, time_value, uuid_param, uuid_value

CHAT_TABLE, MESSAGE_TABLE = Chat._meta.db_table, Message._meta.db_table


def owner_filter(identity: Identity, prefix: str = "") -> Q:
    if identity.user_id is not None:
        return Q(**{f"{prefix}user_id": identity.user_id})
    return Q(**{f"{prefix}anon_id": identity.anon_id})


def chats_for_owner(identity: Identity) -> QuerySet[Chat]:
    return Chat.objects.filter(owner_filter(identity))


def _uuid(value: Any, what: str) -> UUID:
    """A malformed id is answered exactly like a missing one."""
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise NotFound(f"{what} not found.") from None


def chat_get_for_owner(*, identity: Identity, chat_id: Any) -> Chat:
    """The caller's chat; another owner's chat or a malformed id is the same 404 as a missing one."""
    chat = chats_for_owner(identity).filter(pk=_uuid(chat_id, "Chat")).first()
    if chat is None:
        raise NotFound("Chat not found.")
    return chat


def chat_for_send(*, identity: Identity, chat_id: Any) -> Chat:
    """``chat_get_for_owner`` for the send path, in SQL (chatsite/sql.py): the chat's own columns only."""
    owner = ("user_id", identity.user_id) if identity.user_id is not None else ("anon_id", identity.anon_id)
    row = fetch_one(
        f"SELECT title, model, created_at, updated_at FROM {CHAT_TABLE} WHERE id = %s AND {owner[0]} = %s",
        [uuid_param(_uuid(chat_id, "Chat")), owner[1]],
    )
    if row is None:
        raise NotFound("Chat not found.")
    return Chat(
        id=_uuid(chat_id, "Chat"),
        user_id=identity.user_id,
        anon_id=identity.anon_id,
        title=row[0],
        model=row[1],
        created_at=time_value(row[2]),
        updated_at=time_value(row[3]),
    )


def branch_recent(*, chat_id: UUID, limit: int) -> list[Message]:
    """The last ``limit`` messages of the chat's current branch, oldest first, failed answers left out: what a
    send shows the model (``message_history``), read in SQL with only the columns a prompt needs."""
    rows = fetch_all(
        f"SELECT id, role, content, status, position FROM {MESSAGE_TABLE}"
        " WHERE chat_id = %s AND is_current ORDER BY position DESC LIMIT %s",
        [uuid_param(chat_id), limit],
    )
    return [
        Message(id=uuid_value(row[0]), chat_id=chat_id, role=row[1], content=row[2], status=row[3], position=row[4])
        for row in reversed(rows)
        if row[3] != Message.Status.FAILED
    ]


def message_get_for_owner(*, identity: Identity, message_id: Any) -> Message:
    message = (
        Message.objects.select_related("chat")
        .filter(owner_filter(identity, "chat__"), pk=_uuid(message_id, "Message"))
        .first()
    )
    if message is None:
        raise NotFound("Message not found.")
    return message


def message_status_for_owner(*, identity: Identity, message_id: Any) -> str:
    """The status of one of the caller's messages (its texts are not read: they may be megabytes)."""
    status = (
        Message.objects.filter(owner_filter(identity, "chat__"), pk=_uuid(message_id, "Message"))
        .values_list("status", flat=True)
        .first()
    )
    if status is None:
        raise NotFound("Message not found.")
    return status


def chat_message_count(chat_id: UUID) -> int:
    return Message.objects.filter(chat_id=chat_id, is_current=True).count()


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int


def chats_with_state(chats: QuerySet[Chat]) -> QuerySet[Chat]:
    """Chats with what their payload needs from their messages, in the same query: ``n`` (the current
    messages) and ``streaming_id`` (the answer being generated, if any)."""
    counts = (
        Message.objects.filter(chat_id=OuterRef("pk"), is_current=True)
        .values("chat_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    streaming = Message.objects.filter(chat_id=OuterRef("pk"), status=Message.Status.STREAMING).values("pk")[:1]
    return chats.annotate(n=Coalesce(Subquery(counts), 0), streaming_id=Subquery(streaming))


def chat_payload_of(chat: Chat) -> dict[str, Any]:
    """The payload of a chat read by ``chats_with_state``."""
    return chat.to_payload(message_count=chat.n, streaming_message_id=chat.streaming_id)  # type: ignore[attr-defined]


def chat_payload(chat_id: UUID) -> dict[str, Any]:
    return chat_payload_of(chats_with_state(Chat.objects.filter(pk=chat_id)).get())


def chat_list_for_owner(*, identity: Identity, page: int, limit: int) -> Page:
    """The caller's chats, newest activity first."""
    chats = chats_for_owner(identity)
    rows = chats_with_state(chats).order_by("-updated_at", "-created_at")
    items = [chat_payload_of(chat) for chat in rows[page * limit : (page + 1) * limit]]
    return Page(items=items, total=chats.count())


def _family(ref: type[F] | type[OuterRef] = F) -> Coalesce:
    """What a message's siblings share besides chat, role and position: the message they hang off (a first
    turn hangs off none, and stands for itself with its chat, so that the key is never NULL)."""
    return Coalesce(ref("parent_id"), ref("reply_to_id"), ref("chat_id"), output_field=UUIDField())


def message_list_for_chat(*, chat: Chat, page: int, limit: int) -> Page:
    """The current branch. Page 0 is its latest ``limit`` messages; every page is in chronological order."""
    current = Message.objects.filter(chat=chat, is_current=True)
    versions = (
        Message.objects.annotate(family=_family())
        .filter(
            chat_id=OuterRef("chat_id"),
            role=OuterRef("role"),
            position=OuterRef("position"),
            family=_family(OuterRef),
        )
        .values("chat_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = list(current.annotate(n=Subquery(versions)).order_by("-position")[page * limit : (page + 1) * limit])
    rows.reverse()
    return Page(items=[m.to_payload(versions=m.n) for m in rows], total=current.count())


def message_history(*, chat_id: UUID, before_position: int) -> list[Message]:
    """The current messages of a chat before a turn, oldest first: what the model sees as context."""
    return list(
        Message.objects.filter(chat_id=chat_id, is_current=True, position__lt=before_position)
        .exclude(status=Message.Status.FAILED)
        .order_by("position")
    )


def message_versions(message: Message) -> int:
    return Message.objects.filter(message.siblings()).count()


def message_version_list(message: Message) -> list[Message]:
    """A message's versions (itself included), oldest first."""
    return list(Message.objects.filter(message.siblings()).order_by("version"))


def chat_tree(chat_id: UUID) -> Tree:
    """The version tree of a chat: a few columns of every message, in one query."""
    fields = ("pk", "role", "position", "version", "parent_id", "reply_to_id", "selected", "is_current")
    return Tree(Node(*row) for row in Message.objects.filter(chat_id=chat_id).values_list(*fields))


def branch_history(*, chat_id: UUID, last_user_id: UUID | None) -> list[Message]:
    """The branch that ends with the user message ``last_user_id`` and its selected answer, oldest first,
    whether or not it is the current one: what the model sees before the turn that follows it."""
    if last_user_id is None:
        return []
    ids = chat_tree(chat_id).history(last_user_id)
    return list(Message.objects.filter(pk__in=ids).exclude(status=Message.Status.FAILED).order_by("position"))


def branch_last_user_id(chat_id: UUID) -> UUID | None:
    """The last user message of the chat's current branch: where the next turn goes."""
    current = Message.objects.filter(chat_id=chat_id, is_current=True, role=Message.Role.USER)
    return current.order_by("-position").values_list("pk", flat=True).first()
