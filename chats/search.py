"""Search of the caller's chats: their titles and the contents of every message, current or not.

A chat matches when its title, or one of its messages, holds every word of the query as a word or the start of
one ("lisb" finds "Lisbon"), case aside. Chats whose title matches come first, then the others, each group best
match first. Both databases answer from a full-text index (chats/migrations/0004_search_index.py): GIN indexes
over ``to_tsvector('simple', …)`` on PostgreSQL, FTS5 tables on SQLite; neither stems nor drops stop words, so
both find the same chats.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import F
from django.db.models.functions import Left

from chats.models import Chat, Message
from chats.selectors import chat_payload_of, chats_for_owner, chats_with_state, owner_filter
from chatsite.errors import ValidationError
from chatsite.identity import Identity

QUERY_MAX = 200
SEARCH_LIMIT_MAX = 50
# Matching messages read per search, best first: a chat whose best match is not among them is not found
# through its messages (a word on nearly every message ranks them all alike anyway).
MESSAGE_CANDIDATES = 500
SNIPPET_BEFORE, SNIPPET_LENGTH = 40, 160
WORD = re.compile(r"[^\W_]+")
# What PostgreSQL matches a query against: the expressions of the GIN indexes (chats/migrations/0004 and 0005).
# A message is searched by its first SEARCH_CHARS characters there: PostgreSQL refuses a tsvector over 1 MB.
SEARCH_CHARS = 100_000
TITLE_DOCUMENT = SearchVector("title", config="simple")
CONTENT_DOCUMENT = SearchVector(Left("content", SEARCH_CHARS), config="simple")


def search_words(q: Any) -> list[str]:
    """The words of a query (letters and digits), lower-cased; a query without one is refused."""
    if not isinstance(q, str) or not q.strip():
        raise ValidationError("q must be a non-empty string.")
    if len(q) > QUERY_MAX:
        raise ValidationError(f"q must be at most {QUERY_MAX} characters.")
    words = [word.lower() for word in WORD.findall(q)]
    if not words:
        raise ValidationError("q must contain a letter or a digit.")
    return words


def chat_search_for_owner(*, identity: Identity, q: Any, limit: int) -> tuple[str, list[dict[str, Any]]]:
    """The query as searched, and the caller's matching chats (best first), each with a ``snippet`` of the
    match and the ``message_id`` it comes from (``None`` for a title)."""
    words = search_words(q)
    match = _postgres if connection.vendor == "postgresql" else _sqlite
    titles, messages = match(identity, words, limit)
    best: dict[UUID, UUID | None] = dict.fromkeys(titles)
    for chat_id, message_id in messages:
        if len(best) >= limit:
            break
        best.setdefault(chat_id, message_id)
    found = _found(best, words)
    return q.strip(), found


def _found(best: dict[UUID, UUID | None], words: list[str]) -> list[dict[str, Any]]:
    chats = {chat.pk: chat for chat in chats_with_state(Chat.objects.filter(pk__in=best))}
    texts = dict(Message.objects.filter(pk__in=[m for m in best.values() if m]).values_list("pk", "content"))
    found = []
    for chat_id, message_id in best.items():
        chat = chats.get(chat_id)
        if chat is None:  # deleted since it matched
            continue
        text = texts.get(message_id, chat.title) if message_id else chat.title
        snippet = {"snippet": snippet_of(text, words), "message_id": str(message_id) if message_id else None}
        found.append({**chat_payload_of(chat), **snippet})
    return found


def snippet_of(text: str, words: list[str]) -> str:
    """A short piece of ``text`` around the first word the query matches."""
    starts = [m.start() for w in words if (m := re.search(rf"(?<![^\W_]){re.escape(w)}", text, re.IGNORECASE))]
    first = min(starts, default=0)
    start = max(first - SNIPPET_BEFORE, 0)
    if start:
        space = text.find(" ", start, first)
        start = space + 1 if space != -1 else start
    piece = " ".join(text[start : start + SNIPPET_LENGTH].split())
    return ("…" if start else "") + piece + ("…" if start + SNIPPET_LENGTH < len(text) else "")


Matches = tuple[list[UUID], list[tuple[UUID, UUID]]]


def postgres_query(words: list[str]) -> SearchQuery:
    return SearchQuery(" & ".join(f"{word}:*" for word in words), search_type="raw", config="simple")


def _postgres(identity: Identity, words: list[str], limit: int) -> Matches:
    """Titles and messages matched against their ``to_tsvector('simple', …)``. PostgreSQL reads them from the GIN
    indexes, or from the caller's own chats when it has few."""
    query = postgres_query(words)
    titles = (
        chats_for_owner(identity)
        .annotate(document=TITLE_DOCUMENT, rank=SearchRank(TITLE_DOCUMENT, query))
        .filter(document=query)
        .order_by("-rank", "-updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    messages = (
        Message.objects.filter(owner_filter(identity, "chat__"))
        .annotate(document=CONTENT_DOCUMENT, rank=SearchRank(CONTENT_DOCUMENT, query))
        .filter(document=query)
        .order_by("-rank", F("created_at").desc())
        .values_list("chat_id", "pk")[:MESSAGE_CANDIDATES]
    )
    return list(titles), list(messages)


def _sqlite(identity: Identity, words: list[str], limit: int) -> Matches:
    """Titles and messages through the FTS5 tables (each word a quoted prefix: the query cannot inject)."""
    query = " ".join(f'"{word}"*' for word in words)
    owner, value = ("c.user_id", identity.user_id) if identity.user_id is not None else ("c.anon_id", identity.anon_id)
    titles = _rows(
        "SELECT c.id FROM chats_chat_search s JOIN chats_chat_search_key k ON k.id = s.rowid "
        f"JOIN chats_chat c ON c.id = k.object_id WHERE chats_chat_search MATCH %s AND {owner} = %s "
        "ORDER BY bm25(chats_chat_search), c.updated_at DESC LIMIT %s",
        [query, value, limit],
    )
    messages = _rows(
        "SELECT m.chat_id, m.id FROM chats_message_search s JOIN chats_message_search_key k ON k.id = s.rowid "
        "JOIN chats_message m ON m.id = k.object_id JOIN chats_chat c ON c.id = m.chat_id "
        f"WHERE chats_message_search MATCH %s AND {owner} = %s "
        "ORDER BY bm25(chats_message_search), m.created_at DESC LIMIT %s",
        [query, value, MESSAGE_CANDIDATES],
    )
    return [row[0] for row in titles], [(row[0], row[1]) for row in messages]


def _rows(sql: str, params: list[Any]) -> list[tuple[UUID, ...]]:
    """Rows of ids (SQLite keeps a UUID as 32 hex digits)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(UUID(value) for value in row) for row in cursor.fetchall()]
