"""Database work from async code: on the shared pool of worker threads, and never waiting for ever.

A pooled connection to a database that stops answering (a hung host, a stopped process: its kernel still
acknowledges every packet, so no TCP timeout fires) would hold a call, its thread and its request for good: the
statement timeout is the server's, and that server is not counting. So every call made through ``db`` is timed,
and the watchdog (``db_calls_cut_overdue``, run every second by the dependency probe) cuts the connection of a
call running longer than ``DATABASE_CALL_TIMEOUT_SECONDS``: the call then fails at once as a lost connection,
which opens the database breaker (chatsite/outages.py), and later sends are refused without waiting.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

P = ParamSpec("P")
T = TypeVar("T")

# The database calls running now, by thread: when each began, and the thread's database connection.
_running: dict[int, tuple[float, Any]] = {}


def db(function: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """``function`` (synchronous service or selector code, one transaction at most) run on a worker thread of
    the event loop's pool, not on a thread of its own per request (Django's default for a request's sync work,
    which starts a thread per request). Its connection is given back (to the pool) when it returns."""

    @functools.wraps(function)
    def timed(*args: P.args, **kwargs: P.kwargs) -> T:
        me = threading.get_ident()
        _running[me] = (time.monotonic(), connections[DEFAULT_DB_ALIAS])  # this thread's own connection
        try:
            return function(*args, **kwargs)
        finally:
            _running.pop(me, None)

    return database_sync_to_async(timed, thread_sensitive=False)  # type: ignore[no-any-return]


def db_calls_cut_overdue() -> int:
    """Cut the connection of every call through ``db`` that has run longer than DATABASE_CALL_TIMEOUT_SECONDS;
    how many. (PostgreSQL: SQLite has no connection to hang on.)"""
    limit, now, cut = settings.DATABASE_CALL_TIMEOUT_SECONDS, time.monotonic(), 0
    for started, wrapper in list(_running.values()):
        fd = _socket_of(wrapper) if now - started > limit else None
        if fd is not None:
            with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)  # the call's read fails at once; its thread is free again
            cut += 1
    return cut


def _socket_of(wrapper: Any) -> int | None:
    """The socket of a thread's PostgreSQL connection, if it has an open one. (psycopg raises, rather than
    answers, for a connection that closed meanwhile: that must not end the watchdog's loop.)"""
    try:
        return int(wrapper.connection.pgconn.socket)
    except Exception:  # no connection yet, SQLite's, or one closed while we looked
        return None
