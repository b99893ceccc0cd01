"""Database work from async code: on the shared pool of worker threads, one call at a time per thread."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async

P = ParamSpec("P")
T = TypeVar("T")


def db(function: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """``function`` (synchronous service or selector code, one transaction at most) run on a worker thread of
    the event loop's pool, not on a thread of its own per request (Django's default for a request's sync work,
    which starts a thread per request). Its connection is given back (to the pool) when it returns."""
    return database_sync_to_async(function, thread_sensitive=False)  # type: ignore[no-any-return]
