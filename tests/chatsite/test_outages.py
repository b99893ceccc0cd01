"""How a process keeps track of a dependency outage and reports it: once, not per failed call."""

from __future__ import annotations

import asyncio
import logging

import pytest
from django.db import DatabaseError, connection

from chatsite.errors import ServiceUnavailable
from chatsite.outages import (
    DependencyHealth,
    LogThrottle,
    database_health,
    database_outage,
    database_unavailable,
    redis_call,
    redis_health,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_recurring_failure_is_logged_once_per_interval_with_how_many_were_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    throttle = LogThrottle(logging.getLogger("tests.throttle"), interval=30, clock=clock)

    with caplog.at_level(logging.WARNING, logger="tests.throttle"):
        logged = [throttle.warning("write", "writing failed: %s", n) for n in range(120)]
        clock.now += 31
        logged.append(throttle.warning("write", "writing failed: %s", "again"))
        logged.append(throttle.warning("other", "another failure"))

    assert logged.count(True) == 3
    assert [record.getMessage() for record in caplog.records] == [
        "writing failed: 0",
        "writing failed: again (and 119 more in the last 31 s)",
        "another failure",
    ]


async def test_an_outage_is_logged_when_it_starts_and_when_it_ends_and_recovery_work_runs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = DependencyHealth("Test store")
    recovered: list[str] = []

    async def restore() -> None:
        recovered.append("restored")

    health.on_recovery(restore)
    health.on_recovery(restore)
    with caplog.at_level(logging.WARNING, logger="chatsite.outages"):
        for _ in range(50):
            health.failed(ConnectionError("refused"), "writing")
        assert health.down
        health.answered()
        health.answered()
        await asyncio.sleep(0)

    assert not health.down
    assert recovered == ["restored"]
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "Test store is unreachable (ConnectionError: refused) while writing",
        messages[1],
    ]
    assert messages[1].startswith("Test store answers again after") and "(50 calls failed meanwhile)" in messages[1]
    assert health.outages == 1


async def test_a_redis_call_fails_at_once_while_redis_is_known_to_be_down() -> None:
    ran: list[str] = []
    redis_health.failed(ConnectionError("refused"), "testing")
    try:
        with pytest.raises(ServiceUnavailable):
            async with redis_call("testing"):
                ran.append("ran")
    finally:
        redis_health.answered()

    assert ran == []


async def test_a_redis_call_that_fails_tells_the_breaker_and_raises_a_coded_error() -> None:
    assert not redis_health.down
    try:
        with pytest.raises(ServiceUnavailable) as raised:
            async with redis_call("testing"):
                raise TimeoutError("no reply")
        assert redis_health.down
        assert raised.value.code == "SERVICE_UNAVAILABLE" and raised.value.status == 503
    finally:
        redis_health.answered()


def _database_error(sql: str) -> DatabaseError:
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    except DatabaseError as error:
        return error
    raise AssertionError(f"{sql} did not fail")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_statement_over_a_limit_of_postgresql_is_an_error_to_report_not_an_outage() -> None:
    """A value PostgreSQL refuses (SQLSTATE 54000) would fail again on every retry: the caller sees the error
    (a 500 with its code, a failed answer), not a 503 that makes a client retry, and the database is not marked
    down. A statement timeout (57014) is an outage: 503."""
    too_long = _database_error("SELECT repeat('x ', 2000000)::tsvector")
    assert too_long.__cause__.sqlstate == "54000"  # type: ignore[union-attr]
    assert not database_outage(too_long)
    with pytest.raises(DatabaseError):
        database_unavailable(too_long, "testing")
    assert not database_health.down

    timed_out = _database_error("SET LOCAL statement_timeout = 1; SELECT pg_sleep(1)")
    assert timed_out.__cause__.sqlstate == "57014"  # type: ignore[union-attr]
    assert database_outage(timed_out)
    assert isinstance(database_unavailable(timed_out, "testing"), ServiceUnavailable)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_watchdog_passes_over_a_call_whose_connection_closed_meanwhile() -> None:
    """psycopg raises when asked for the socket of a closed connection: the watchdog runs in the loop that also
    probes Redis and the database, so it must not raise (the probes would stop with it)."""
    from chatsite import db

    connection.ensure_connection()
    connection.connection.close()  # as a cut or a server restart leaves it, while its call is still counted
    db._running[-1] = (0.0, connection)  # a call that began long ago
    try:
        assert db.db_calls_cut_overdue() == 0
    finally:
        db._running.pop(-1, None)
        connection.close()
