"""Writes to chats. Each function is one transaction and returns what the caller needs to render."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from chats.models import Chat, Message
from chats.selectors import chat_get_for_owner, chat_message_count
from chatsite.errors import ValidationError
from chatsite.identity import Identity

TITLE_MAX = 200


def chat_create(*, identity: Identity, model: str, title: str = "") -> Chat:
    return Chat.objects.create(user_id=identity.user_id, anon_id=identity.anon_id, model=model, title=title)


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
