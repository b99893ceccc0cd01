"""The message search index covers the first ``SEARCH_CHARS`` characters of a message, not all of it.

PostgreSQL refuses a ``tsvector`` over about 1 MB, and an index over ``to_tsvector(content)`` makes it refuse
the row itself: an answer longer than that could not be stored. Indexing (and searching) the start of each
message keeps every answer storable; 100,000 characters is far more than a search needs to find a chat.
SQLite's FTS5 has no such limit and keeps indexing the whole message.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations
from django.db.models.functions import Left

NAME = "chats_message_search"
SEARCH_CHARS = 100_000


def _index(prefix):
    column = Left("content", SEARCH_CHARS) if prefix else "content"
    return GinIndex(SearchVector(column, config="simple"), name=NAME)


def _replace(apps, schema_editor, *, prefix):
    if schema_editor.connection.vendor != "postgresql":
        return
    model = apps.get_model("chats", "Message")
    schema_editor.remove_index(model, _index(not prefix), concurrently=True)
    schema_editor.add_index(model, _index(prefix), concurrently=True)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("chats", "0004_search_index")]

    operations = [
        migrations.RunPython(
            lambda apps, editor: _replace(apps, editor, prefix=True),
            lambda apps, editor: _replace(apps, editor, prefix=False),
            elidable=False,
        )
    ]
