"""Dependency outages: what this process knows about Redis or the database being down, and how it says so
without flooding its logs.

``redis_health`` and ``database_health`` are small circuit breakers. A Redis call made through ``redis_call``
reports to the first (a connection error or a timeout opens it, a reply closes it); a database failure reported
through ``database_unavailable`` opens the second when the server could not be reached at all (not for an error
the server itself returned, such as a statement timeout). While one is open, the work that needs it is refused
at once instead of waiting for a timeout: a send gets ``SERVICE_UNAVAILABLE`` before any quota is taken. A cheap
periodic probe (``dependencies_watch``, every ``HEALTH_PROBE_SECONDS``: a Redis ``PING``, and a ``SELECT 1``
while the database is down) notices an outage no call has met yet, and the moment a dependency answers again.

``LogThrottle`` logs a recurring failure once per interval, with how many times it happened meanwhile, instead
of a traceback per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import redis.exceptions
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

from chatsite.db import db_calls_cut_overdue
from chatsite.errors import ServiceUnavailable
from chatsite.redis import raise_if_cancelled, redis_client, redis_enabled

log = logging.getLogger(__name__)

# What an unreachable, restarting, paused or overloaded Redis raises (OSError covers refused connections and
# the timeouts of redis_call). Any other Redis error is a bug, not an outage.
REDIS_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
)
# What psycopg raises (through Django) when PostgreSQL is unreachable, restarting, or a statement timed out.
DATABASE_OUTAGE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, InterfaceError)

LOG_REPEAT_SECONDS = 30.0


class LogThrottle:
    """Log each kind of recurring failure (a ``key``) at most once per ``interval``, then say how many were
    left out."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = LOG_REPEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._last: dict[str, tuple[float, int]] = {}  # key -> (when it was last logged, occurrences left out)

    def warning(self, key: str, message: str, *args: object) -> bool:
        """Log ``message`` unless ``key`` was logged less than an interval ago; whether it was logged."""
        now = self.clock()
        last, left_out = self._last.get(key, (None, 0))
        if last is not None and now - last < self.interval:
            self._last[key] = (last, left_out + 1)
            return False
        if left_out and last is not None:
            message = f"{message} (and {left_out} more in the last {now - last:.0f} s)"
        self.logger.warning(message, *args)
        self._last[key] = (now, 0)
        return True


throttled = LogThrottle(log)


def describe(error: BaseException) -> str:
    """One line for a failure, no traceback: an outage's traceback says nothing its message does not."""
    text = " ".join(str(error).split())  # (psycopg's messages span several lines)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class DependencyHealth:
    """Whether a dependency is known to be down in this process, as real calls and the probe found it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.down_since: float | None = None
        self.outages = 0  # how many times it went down: a change tells a caller that state may have been lost
        self.failures = 0  # calls that failed during the current outage
        self._on_recovery: dict[Callable[[], Awaitable[None]], None] = {}
        self._recovering: set[asyncio.Task[None]] = set()

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, error: BaseException, doing: str) -> None:
        if self.down_since is None:
            self.down_since, self.outages, self.failures = time.monotonic(), self.outages + 1, 0
            throttled.warning(f"{self.name}:down", "%s is unreachable (%s) while %s", self.name, describe(error), doing)
        self.failures += 1

    def answered(self) -> None:
        if self.down_since is None:
            return
        seconds, failures = time.monotonic() - self.down_since, self.failures
        self.down_since = None
        message = "%s answers again after %.1f s (%d calls failed meanwhile)"
        throttled.warning(f"{self.name}:up", message, self.name, seconds, failures)
        for callback in self._on_recovery:
            task = asyncio.ensure_future(callback())
            self._recovering.add(task)
            task.add_done_callback(self._recovering.discard)

    def on_recovery(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` each time the dependency answers again after an outage (registering twice is once)."""
        self._on_recovery[callback] = None


redis_health = DependencyHealth("Redis")


@asynccontextmanager
async def redis_call(doing: str, *, fail_fast: bool = True, blocking: float = 0.0) -> AsyncIterator[None]:
    """Redis commands that take at most ``REDIS_TIMEOUT_SECONDS`` together (plus the ``blocking`` seconds a
    blocking command asked Redis to wait), and whose outage becomes ``ServiceUnavailable`` once ``redis_health``
    has been told (and has logged it). While Redis is known to be down the block does not run at all, unless
    ``fail_fast`` is off (the probe and the health checks must try)."""
    if fail_fast and redis_health.down:
        redis_health.failures += 1
        raise ServiceUnavailable()
    try:
        async with asyncio.timeout(settings.REDIS_TIMEOUT_SECONDS + blocking):
            yield
    except REDIS_OUTAGE_ERRORS as error:  # (TimeoutError is an OSError)
        redis_health.failed(error, doing)
        raise ServiceUnavailable() from error
    redis_health.answered()


database_health = DependencyHealth("The database")


# The SQLSTATE classes of a database that cannot do the work now but may soon: connection exceptions,
# insufficient resources, operator intervention (a statement timeout, a shutdown), system errors. Any other error
# the server returns (a value over one of its limits, a constraint) would fail the same way again.
OUTAGE_SQLSTATE_CLASSES = ("08", "53", "57", "58")


def database_outage(error: BaseException) -> bool:
    """Whether a database error is an outage (worth a 503 and a retry) rather than a fault of the statement."""
    sqlstate = getattr(error.__cause__, "sqlstate", "")
    return sqlstate is None or not sqlstate or sqlstate[:2] in OUTAGE_SQLSTATE_CLASSES


def database_unavailable(error: BaseException, doing: str) -> ServiceUnavailable:
    """Log a database outage (once per interval) and return the error a caller should get for it. One that
    never reached the server (psycopg gives it no SQLSTATE) opens ``database_health``. An error that is not an
    outage is raised again: it is a bug to report, not a reason to make the client retry."""
    if not database_outage(error):
        raise error
    if getattr(error.__cause__, "sqlstate", "") is None:
        database_health.failed(error, doing)
    else:
        throttled.warning(f"database:{doing}", "a database call failed (%s) while %s", describe(error), doing)
    return ServiceUnavailable()


def _database_select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


async def database_ping() -> None:
    """``SELECT 1`` on a connection of its own, in a thread of its own: a hung database holds only this call
    (the request handlers share one thread for their database work)."""
    await database_sync_to_async(_database_select_one, thread_sensitive=False)()


async def redis_ping() -> None:
    async with redis_call("probing", fail_fast=False):
        await redis_client().ping()  # type: ignore[misc]  # redis-py types it for both of its clients


async def dependencies_watch() -> None:
    """Probe Redis, and the database while it is down, every ``HEALTH_PROBE_SECONDS`` for as long as the process
    serves (each probe is bounded by the dependency's own timeouts)."""
    while True:
        if redis_enabled():
            with contextlib.suppress(ServiceUnavailable):
                await redis_ping()
        db_calls_cut_overdue()
        if database_health.down:
            await _database_probe()
        raise_if_cancelled()  # a lost cancellation would keep a closing event loop waiting for this task
        await asyncio.sleep(settings.HEALTH_PROBE_SECONDS)


async def _database_probe() -> None:
    try:
        await database_ping()
    except DATABASE_OUTAGE_ERRORS as error:
        database_unavailable(error, "probing")
    else:
        database_health.answered()


def dependencies_down() -> bool:
    """Whether Redis or the database is known to be unreachable from this process."""
    return redis_health.down or database_health.down
