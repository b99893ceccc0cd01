from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from usage.money import credits_text


class Chat(models.Model):
    """A conversation, owned by a user or by an anonymous visitor (exactly one of the two)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="chats"
    )
    # NULL, not "", for "no anonymous owner": the owner check constraint needs exactly one non-null owner.
    anon_id = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    title = models.CharField(max_length=200, blank=True, default="")
    model = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    # Last activity (a message, a rename): chat lists are ordered by it.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-updated_at"], name="chat_user_recent"),
            models.Index(fields=["anon_id", "-updated_at"], name="chat_anon_recent"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(anon_id__isnull=True))
                | (Q(user__isnull=True) & Q(anon_id__isnull=False)),
                name="chat_has_exactly_one_owner",
            )
        ]

    def __str__(self) -> str:
        return self.title or f"Chat {self.id}"

    def to_payload(self, *, message_count: int, streaming_message_id: Any = None) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "title": self.title,
            "model": self.model,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "message_count": message_count,
            # The answer being generated in this chat, if any: any tab can follow it with GET …/stream.
            "streaming_message_id": str(streaming_message_id) if streaming_message_id else None,
        }


class Message(models.Model):
    """One message of a chat.

    A turn is a ``position``: the user's message has an even position and its answer the next odd one. A chat
    is a tree of versions, and nothing is deleted:

    - a user message hangs off the previous user message of its branch (``parent``; none for the first turn),
      and an answer off its user message (``reply_to``);
    - the versions of a turn are its siblings: the user messages hanging off the same parent (an edit adds
      one), or the answers to the same user message (a regenerate adds one). ``version`` numbers them from 1;
    - ``selected`` marks the version chosen among its siblings, and is kept when another branch is shown, so
      that a branch comes back as it was; ``is_current`` marks the messages of the branch the chat shows (from
      the first turn, each turn's selected version), so that every read of the current branch is one query.
    """

    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        SYSTEM = "system"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True, default="")
    # What a reasoning model thought before it answered (streamed as assistant_reasoning_delta); never sent
    # back upstream.
    reasoning = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    model = models.CharField(max_length=100, blank=True, default="")
    position = models.PositiveIntegerField()
    version = models.PositiveIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    selected = models.BooleanField(default=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    reply_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="answers")
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    error_code = models.CharField(max_length=40, blank=True, default="")
    # The id of the last event of this answer's stream, so a replay from the database numbers its events
    # as the live stream did (and a reader that saw the end is told there is nothing more).
    last_event_id = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["chat", "is_current", "-position"], name="message_chat_recent")]
        constraints = [
            # One row per version number among siblings (see the class docstring). A first turn has no parent,
            # and NULLs never collide in a unique index: its siblings are numbered per chat and position.
            models.UniqueConstraint(
                fields=["reply_to", "version"], condition=Q(role="assistant"), name="message_answer_version_unique"
            ),
            models.UniqueConstraint(
                fields=["parent", "version"],
                condition=Q(role="user", parent__isnull=False),
                name="message_user_version_unique",
            ),
            models.UniqueConstraint(
                fields=["chat", "position", "version"],
                condition=Q(role="user", parent__isnull=True),
                name="message_first_turn_version_unique",
            ),
            # The database itself keeps a chat to one running generation, whatever the processes do.
            models.UniqueConstraint(
                fields=["chat"], condition=Q(status="streaming"), name="message_one_streaming_per_chat"
            ),
            models.CheckConstraint(condition=Q(cost__gte=0), name="message_cost_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.id}"

    def siblings(self) -> Q:
        """This message's versions, itself included: the messages of the same turn that hang off the same
        message (for a first turn, off none)."""
        return Q(
            chat_id=self.chat_id,
            role=self.role,
            position=self.position,
            parent_id=self.parent_id,
            reply_to_id=self.reply_to_id,
        )

    def to_payload(self, *, versions: int = 1) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "chat_id": str(self.chat_id),
            "role": self.role,
            "content": self.content,
            "reasoning": self.reasoning,
            "status": self.status,
            "model": self.model,
            "created_at": self.created_at.isoformat(),
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "reply_to_id": str(self.reply_to_id) if self.reply_to_id else None,
            "versions": versions,
            "version": self.version,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost": credits_text(self.cost),
            "error_code": self.error_code,
        }
