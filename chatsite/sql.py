"""Hand-written SQL for the statements of the hot path: admitting a send, writing its turn and settling it.

There the ORM's building of a query costs several times the statement itself (docs/performance.md), so those few
statements are written out, once, for both databases (PostgreSQL, and SQLite 3.35 or later for RETURNING).
Parameters are adapted here to what each database stores; what is read back is kept to ids, numbers and text,
which read the same on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID

from django.db import connection
from django.db.models import Model
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_aware, make_aware

Row = tuple[Any, ...]


def uuid_param(value: UUID | None) -> Any:
    """A UUID as its column stores it (SQLite keeps the 32 hex digits)."""
    if value is None or connection.features.has_native_uuid_field:
        return value
    return value.hex


def uuid_value(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def time_param(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def decimal_param(value: Decimal) -> Any:
    return connection.ops.adapt_decimalfield_value(value, 18, 6)


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run a statement; how many rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def fetch_one(sql: str, params: Sequence[Any]) -> Row | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else tuple(row)


def fetch_all(sql: str, params: Sequence[Any]) -> list[Row]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


def time_value(value: Any) -> datetime:
    """A timestamp as read back (SQLite gives the text it stores, in UTC)."""
    if isinstance(value, datetime):
        moment = value
    else:
        parsed = parse_datetime(str(value))
        assert parsed is not None, value
        moment = parsed
    return moment if is_aware(moment) else make_aware(moment, UTC)


def decimal_value(value: Any) -> Decimal:
    """An amount as read back (SQLite may give a float: its shortest text is the amount stored)."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


M = TypeVar("M", bound=Model)


def columns_of(model: type[Model]) -> str:
    """Every column of a model, in the order ``instance_of`` reads them."""
    return ", ".join(str(field.column) for field in model._meta.concrete_fields)


def instance_of(model: type[M], row: Row) -> M:
    """A model instance from a row of ``SELECT columns_of(model)``, each value as its field reads it."""
    fields = model._meta.concrete_fields
    return model(**{field.attname: field.to_python(value) for field, value in zip(fields, row, strict=True)})


def insert_rows(instances: Sequence[Model]) -> None:
    """Insert model instances (of one model) in one statement, every column as the ORM would store it (their
    Python defaults applied when they were made; a timestamp set on them, not by ``auto_now_add``)."""
    model = type(instances[0])
    fields = model._meta.concrete_fields
    columns = ", ".join(str(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [
        field.get_db_prep_save(getattr(item, field.attname), connection) for item in instances for field in fields
    ]
    execute(f"INSERT INTO {model._meta.db_table} ({columns}) VALUES {', '.join([row] * len(instances))}", params)
