"""The rules of branches, through the services and selectors that write and read them: an edit starts a branch,
a regenerate stays within one, choosing a version brings back the branch below it as it was last shown."""

from __future__ import annotations

import pytest

from chats.models import Chat, Message
from chats.protocol import list_versions, select_version
from chats.selectors import branch_history, chat_payload, message_list_for_chat
from chats.services import chat_create, turn_append
from chatsite.errors import GenerationInProgress, NotFound
from chatsite.identity import Identity
from tests.conversations import edit, regenerate, say

pytestmark = pytest.mark.django_db
OWNER = Identity(anon_id="guest-branches-1")


def shown(chat: Chat) -> list[str]:
    return [m["content"] for m in message_list_for_chat(chat=chat, page=0, limit=50).items]


@pytest.fixture
def chat() -> Chat:
    return chat_create(identity=OWNER, model="echo")


@pytest.fixture
def three_turns(chat: Chat) -> list[Message]:
    u1, a1 = say(chat, None, "one")
    u2, a2 = say(chat, u1, "two")
    u3, a3 = say(chat, u2, "three")
    return [u1, a1, u2, a2, u3, a3]


def test_an_edit_starts_a_branch_and_keeps_the_old_one(chat: Chat, three_turns: list[Message]) -> None:
    u1, _, u2, *_ = three_turns

    new, _ = edit(chat, u2, "TWO")

    assert shown(chat) == ["one", "re one", "TWO", "re TWO"]
    listed = message_list_for_chat(chat=chat, page=0, limit=50).items
    assert [(m["version"], m["versions"]) for m in listed] == [(1, 1), (1, 1), (2, 2), (1, 1)]
    assert (new.parent_id, new.position, new.version) == (u1.pk, 2, 2)
    assert Message.objects.filter(chat=chat).count() == 8  # nothing deleted
    assert chat_payload(chat.pk)["message_count"] == 4


def test_choosing_the_old_version_back_shows_its_whole_branch(chat: Chat, three_turns: list[Message]) -> None:
    u2 = three_turns[2]
    edit(chat, u2, "TWO")

    select_version(OWNER, {"message_id": str(u2.pk)})

    assert shown(chat) == ["one", "re one", "two", "re two", "three", "re three"]
    versions = list_versions(OWNER, {"message_id": str(u2.pk)}).data
    assert [v["content"] for v in versions["versions"]] == ["two", "TWO"]
    assert versions["current"] == str(u2.pk)


def test_an_edit_of_an_edit_is_a_third_version_of_the_same_turn(chat: Chat, three_turns: list[Message]) -> None:
    second, _ = edit(chat, three_turns[2], "TWO")

    third, _ = edit(chat, second, "Two!")

    versions = list_versions(OWNER, {"message_id": str(three_turns[2].pk)}).data
    assert [(v["content"], v["version"], v["versions"]) for v in versions["versions"]] == [
        ("two", 1, 3),
        ("TWO", 2, 3),
        ("Two!", 3, 3),
    ]
    assert versions["current"] == str(third.pk)
    assert shown(chat) == ["one", "re one", "Two!", "re Two!"]


def test_choosing_a_middle_version_restores_the_branch_below_it_as_it_was(chat: Chat) -> None:
    u1, _ = say(chat, None, "one")
    u2, _ = say(chat, u1, "two")
    b2, _ = edit(chat, u2, "two b")
    _, b3_answer = say(chat, b2, "three b")
    regenerate(chat, b3_answer, "re three b, again")
    select_version(OWNER, {"message_id": str(b3_answer.pk)})  # the first answer is the one chosen on branch b
    edit(chat, b2, "two c")
    assert shown(chat) == ["one", "re one", "two c", "re two c"]

    select_version(OWNER, {"message_id": str(b2.pk)})

    assert shown(chat) == ["one", "re one", "two b", "re two b", "three b", "re three b"]
    select_version(OWNER, {"message_id": str(u2.pk)})
    assert shown(chat) == ["one", "re one", "two", "re two"]


def test_choosing_a_version_on_another_branch_shows_the_branch_above_it_too(chat: Chat) -> None:
    u1, _ = say(chat, None, "one")
    u2, _ = say(chat, u1, "two")
    _, old_answer = say(chat, u2, "three")
    edit(chat, u1, "ONE")

    select_version(OWNER, {"message_id": str(old_answer.pk)})

    assert shown(chat) == ["one", "re one", "two", "re two", "three", "re three"]


def test_regenerate_stays_within_its_branch_and_keeps_the_later_turns(chat: Chat, three_turns: list[Message]) -> None:
    _, a1, u2, _, _, _ = three_turns
    edited, _ = edit(chat, u2, "TWO")
    select_version(OWNER, {"message_id": str(u2.pk)})

    regenerate(chat, a1, "re one, again")

    assert shown(chat) == ["one", "re one, again", "two", "re two", "three", "re three"]
    listed = message_list_for_chat(chat=chat, page=0, limit=50).items
    assert [m["versions"] for m in listed] == [1, 2, 2, 1, 1, 1]
    assert Message.objects.get(pk=edited.pk).is_current is False


def test_a_turn_follows_the_branch_its_prompt_was_planned_on(chat: Chat, three_turns: list[Message]) -> None:
    _, _, u2, _, u3, _ = three_turns
    edit(chat, u2, "TWO")  # another tab shows another branch since the plan, made on the old one

    user, _ = say(chat, u3, "four")

    assert shown(chat) == ["one", "re one", "two", "re two", "three", "re three", "four", "re four"]
    assert (user.parent_id, user.position, user.version) == (u3.pk, 6, 1)


def test_two_turns_planned_on_the_same_branch_become_two_versions(chat: Chat) -> None:
    u1, _ = say(chat, None, "one")
    first, _ = say(chat, u1, "from one tab")

    second, _ = say(chat, u1, "from another tab")  # planned before the first was written

    assert (first.version, second.version) == (1, 2)
    assert shown(chat) == ["one", "re one", "from another tab", "re from another tab"]


def test_the_history_of_a_branch_is_its_messages_above_a_turn_with_their_chosen_answers(
    chat: Chat, three_turns: list[Message]
) -> None:
    u1, a1, u2, *_ = three_turns
    regenerate(chat, a1, "re one, again")
    edit(chat, u1, "ONE")  # the history below does not depend on the branch being shown

    history = branch_history(chat_id=chat.pk, last_user_id=u2.pk)

    assert [m.content for m in history] == ["one", "re one, again", "two", "re two"]
    assert branch_history(chat_id=chat.pk, last_user_id=None) == []


def test_choosing_a_version_while_the_chat_answers_is_refused(chat: Chat, three_turns: list[Message]) -> None:
    turn_append(chat=chat, after=three_turns[4], content="four", model="echo")  # its answer still streams

    with pytest.raises(GenerationInProgress):
        select_version(OWNER, {"message_id": str(three_turns[2].pk)})
    assert shown(chat)[-2:] == ["four", ""]


def test_a_select_tells_every_tab_the_branch_and_the_chat(chat: Chat, three_turns: list[Message]) -> None:
    edit(chat, three_turns[2], "TWO")

    reply = select_version(OWNER, {"message_id": str(three_turns[2].pk)})

    assert reply.event == "messages_list" and reply.broadcast
    assert [m["content"] for m in reply.data["messages"]][-1] == "re three"
    assert reply.pushes == [("chat_updated", {"chat": chat_payload(chat.pk)})]
    assert reply.pushes[0][1]["chat"]["message_count"] == 6


def test_versions_of_another_owners_message_are_not_found(chat: Chat, three_turns: list[Message]) -> None:
    stranger = Identity(anon_id="someone-else-01")

    for handler in (list_versions, select_version):
        with pytest.raises(NotFound):
            handler(stranger, {"message_id": str(three_turns[2].pk)})
    assert shown(chat)[-1] == "re three"
