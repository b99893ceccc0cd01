"""Graceful shutdown under daphne: on SIGTERM, refuse new sends, let running answers finish within
``SHUTDOWN_GRACE_SECONDS``, then stop the rest (stored as ``stopped`` and settled) before the process exits.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from django.conf import settings

from chatsite.lifecycle import drain_begin
from messaging.generation import generations_drain

log = logging.getLogger(__name__)


class _State:
    installed = False


def shutdown_hook_install() -> None:
    """Hook into the Twisted reactor daphne runs on (once); elsewhere (tests, other servers) do nothing."""
    if _State.installed or "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import defer, reactor

    def drain() -> Any:
        drain_begin()
        log.warning("shutting down: draining running generations for up to %ss", settings.SHUTDOWN_GRACE_SECONDS)
        # A "before shutdown" trigger that returns a Deferred holds the reactor until it fires.
        return defer.Deferred.fromFuture(asyncio.ensure_future(generations_drain(settings.SHUTDOWN_GRACE_SECONDS)))

    core: Any = reactor  # twisted's module-level reactor is typed loosely
    core.addSystemEventTrigger("before", "shutdown", drain)
    _State.installed = True
