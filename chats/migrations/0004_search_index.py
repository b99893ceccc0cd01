"""Full-text indexes for ``search_chats`` (chats/search.py): chat titles and message contents.

PostgreSQL: a GIN index over ``to_tsvector('simple', …)`` of each column, made from the very expression the
search queries (``SearchVector(column, config="simple")``), built CONCURRENTLY so that a large table keeps taking sends while it is built (hence a migration that
is not atomic). If a concurrent build fails it leaves an invalid index: drop it and migrate again.

SQLite: an FTS5 table per column, kept in sync by triggers. It is contentless (the text stays in its own table
only) and keyed by a small table of its own: the tables it indexes have UUID keys and their rowids may change
on VACUUM, so each indexed row gets a lasting integer key instead. Triggers live with their table, and Django
rebuilds a SQLite table to alter it: a later migration that alters chats_message or chats_chat on SQLite must
run ``sqlite_install`` again (the search tests fail until it does).

Neither database changes otherwise; the model state does not know of these indexes.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations, transaction

# (index or FTS table, model, indexed table, column)
INDEXED = [
    ("chats_message_search", "Message", "chats_message", "content"),
    ("chats_chat_search", "Chat", "chats_chat", "title"),
]


def _postgres_index(name, column):
    return GinIndex(SearchVector(column, config="simple"), name=name)


def _sqlite_sql(name, table, column):
    """A row is in the FTS table, under the id of its key row, exactly when its text is not empty (a streaming
    answer is indexed when its text arrives); a contentless FTS5 table forgets a row given its old text."""
    key = f"{name}_key"
    forget = f"""INSERT INTO {name}({name}, rowid, body) SELECT 'delete', id, old.{column} FROM {key} WHERE object_id = old.id;
            DELETE FROM {key} WHERE object_id = old.id;"""
    index = f"""INSERT INTO {key}(object_id) SELECT new.id WHERE new.{column} <> '';
            INSERT INTO {name}(rowid, body) SELECT id, new.{column} FROM {key} WHERE object_id = new.id;"""
    return [
        f"DROP TABLE IF EXISTS {name}",
        f"DROP TABLE IF EXISTS {key}",
        f"CREATE TABLE {key} (id INTEGER PRIMARY KEY, object_id CHAR(32) NOT NULL UNIQUE)",
        f"CREATE VIRTUAL TABLE {name} USING fts5(body, content='', tokenize='unicode61 remove_diacritics 0')",
        f"INSERT INTO {key}(object_id) SELECT id FROM {table} WHERE {column} <> ''",
        f"INSERT INTO {name}(rowid, body) SELECT k.id, t.{column} FROM {table} t JOIN {key} k ON k.object_id = t.id",
        f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN {index} END",
        f"CREATE TRIGGER {name}_update AFTER UPDATE OF {column} ON {table} BEGIN {forget} {index} END",
        f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN {forget} END",
    ]


def sqlite_install(cursor):
    """(Re)create the SQLite search tables and triggers, and index every row."""
    for name, _, table, column in INDEXED:
        for trigger in ("insert", "update", "delete"):
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}_{trigger}")
        for statement in _sqlite_sql(name, table, column):
            cursor.execute(statement)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for name, model, _, column in INDEXED:
            schema_editor.add_index(apps.get_model("chats", model), _postgres_index(name, column), concurrently=True)
    elif vendor == "sqlite":
        with transaction.atomic(using=schema_editor.connection.alias):
            sqlite_install(schema_editor.connection.cursor())


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for name, model, _, column in INDEXED:
        if vendor == "postgresql":
            schema_editor.remove_index(apps.get_model("chats", model), _postgres_index(name, column), concurrently=True)
        elif vendor == "sqlite":
            for trigger in ("insert", "update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}_{trigger}")
            schema_editor.execute(f"DROP TABLE IF EXISTS {name}")
            schema_editor.execute(f"DROP TABLE IF EXISTS {name}_key")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [("chats", "0003_message_branches")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
