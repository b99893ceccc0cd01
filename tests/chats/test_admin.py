"""The chat admin: a message's page shows its branch links and its reasoning."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chats.services import AnswerEnd, answer_finish, chat_create, turn_append
from chatsite.identity import Identity

pytestmark = pytest.mark.django_db


def test_a_messages_page_shows_its_reasoning_and_links_its_branch_by_id() -> None:
    chat = chat_create(identity=Identity(anon_id="guest-admin-01"), model="echo")
    user, answer = turn_append(chat=chat, after=None, content="hi", model="echo")
    answer_finish(answer=answer, end=AnswerEnd(content="hello", status="complete", reasoning="Greet them back."))
    superuser = get_user_model().objects.create_superuser(username="root", password="x", email="root@example.com")
    client = Client()
    client.force_login(superuser)

    page = client.get(f"/admin/chats/message/{answer.pk}/change/").content.decode()

    assert "Greet them back." in page
    assert 'name="parent" id="id_parent" class="vForeignKeyRawIdAdminField' in page  # never a list of every message
    assert str(user.pk) in page
