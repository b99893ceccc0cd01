"""Building conversations in tests through the services that write them: turns, edits, regenerates."""

from __future__ import annotations

from chats.models import Chat, Message
from chats.services import AnswerEnd, answer_finish, answer_version_append, turn_append, user_version_append


def answered(answer: Message, text: str) -> Message:
    return answer_finish(answer=answer, end=AnswerEnd(content=text, status=Message.Status.COMPLETE))


def say(chat: Chat, after: Message | None, text: str, reply: str | None = None) -> tuple[Message, Message]:
    user, answer = turn_append(chat=chat, after=after, content=text, model="echo")
    return user, answered(answer, f"re {text}" if reply is None else reply)


def edit(chat: Chat, message: Message, text: str) -> tuple[Message, Message]:
    user, answer = user_version_append(chat=chat, edits=message, content=text, model="echo")
    return user, answered(answer, f"re {text}")


def regenerate(chat: Chat, answer: Message, text: str) -> Message:
    replaces = Message.objects.select_related("reply_to").get(pk=answer.pk)
    return answered(answer_version_append(chat=chat, replaces=replaces, model="echo"), text)
