"""The process's own lifecycle, which several layers read: whether it is draining for a shutdown, and the work
the drain must wait for (registered by the apps that own it, see ``MessagingConfig.ready``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from django.conf import settings

log = logging.getLogger(__name__)

Drain = Callable[[float], Awaitable[None]]


class _State:
    draining = False
    drains: list[Drain] = []


def is_draining() -> bool:
    return _State.draining


def drain_begin() -> None:
    """From now on new sends are refused (``SERVER_SHUTTING_DOWN``) and readiness answers 503, while running
    answers finish."""
    _State.draining = True


def drain_register(drain: Drain) -> None:
    """Work a shutdown waits for: ``drain(grace)`` lets it finish for up to ``grace`` seconds, then ends it."""
    if drain not in _State.drains:
        _State.drains.append(drain)


async def drain() -> None:
    """The graceful part of a shutdown (a server's SIGTERM): refuse new work, then let what runs finish within
    ``SHUTDOWN_GRACE_SECONDS``."""
    drain_begin()
    log.warning("shutting down: draining running generations for up to %ss", settings.SHUTDOWN_GRACE_SECONDS)
    for step in _State.drains:
        await step(settings.SHUTDOWN_GRACE_SECONDS)
