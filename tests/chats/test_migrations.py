"""The migration to branches: chats written before it keep their turns, linked into one branch."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from chats.selectors import message_list_for_chat

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("chats", "0002_message_last_event_id")]


def migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate to ``targets`` and return the apps of that state."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_a_linear_chat_becomes_one_branch_with_its_chosen_versions() -> None:
    old = migrate(BEFORE)
    chat = old.get_model("chats", "Chat").objects.create(anon_id="guest-migrated", model="echo")
    message = old.get_model("chats", "Message").objects

    def row(position: int, role: str, content: str, **fields: Any) -> Any:
        return message.create(chat=chat, position=position, role=role, content=content, **fields)

    u0 = row(0, "user", "one")
    row(1, "assistant", "re one", reply_to=u0, is_current=False)
    row(1, "assistant", "re one, again", reply_to=u0, version=2)
    u2 = row(2, "user", "two")
    row(3, "assistant", "re two", reply_to=u2)

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from chats.models import Chat, Message

    rows = {m.content: m for m in Message.objects.filter(chat_id=chat.pk)}
    assert rows["one"].parent_id is None and rows["two"].parent_id == u0.pk
    assert [m.content for m in Message.objects.filter(chat_id=chat.pk, selected=True).order_by("position")] == [
        "one",
        "re one, again",
        "two",
        "re two",
    ]
    listed = message_list_for_chat(chat=Chat.objects.get(pk=chat.pk), page=0, limit=50).items
    assert [(m["content"], m["versions"]) for m in listed] == [
        ("one", 1),
        ("re one, again", 2),
        ("two", 1),
        ("re two", 1),
    ]
