"""Reads of chats and messages, always scoped to the caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from chats.models import Chat, Message
from chatsite.errors import NotFound
from chatsite.identity import Identity


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


def message_get_for_owner(*, identity: Identity, message_id: Any) -> Message:
    message = (
        Message.objects.select_related("chat")
        .filter(owner_filter(identity, "chat__"), pk=_uuid(message_id, "Message"))
        .first()
    )
    if message is None:
        raise NotFound("Message not found.")
    return message


def chat_message_count(chat_id: UUID) -> int:
    return Message.objects.filter(chat_id=chat_id, is_current=True).count()


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int


def chat_list_for_owner(*, identity: Identity, page: int, limit: int) -> Page:
    """The caller's chats, newest activity first."""
    chats = chats_for_owner(identity)
    counts = (
        Message.objects.filter(chat_id=OuterRef("pk"), is_current=True)
        .values("chat_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = chats.annotate(n=Coalesce(Subquery(counts), 0)).order_by("-updated_at", "-created_at")
    items = [chat.to_payload(message_count=chat.n) for chat in rows[page * limit : (page + 1) * limit]]
    return Page(items=items, total=chats.count())


def message_list_for_chat(*, chat: Chat, page: int, limit: int) -> Page:
    """Page 0 is the latest ``limit`` messages; every page is in chronological order."""
    current = Message.objects.filter(chat=chat, is_current=True)
    versions = (
        Message.objects.filter(chat_id=OuterRef("chat_id"), position=OuterRef("position"))
        .values("position")
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
    return Message.objects.filter(chat_id=message.chat_id, position=message.position).count()
