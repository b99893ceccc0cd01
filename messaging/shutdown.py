"""Graceful shutdown under daphne: on SIGTERM, the drain of chatsite.lifecycle (new sends refused, running answers
finished within ``SHUTDOWN_GRACE_SECONDS``, then stopped, stored and settled) before the process exits.
(``python -m chatsite.serve``, the default server, drains the same way; see chatsite/serve.py.)
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from chatsite.lifecycle import drain


class _State:
    installed = False


def shutdown_hook_install() -> None:
    """Hook into the Twisted reactor daphne runs on (once); elsewhere (tests, other servers) do nothing."""
    if _State.installed or "twisted.internet.reactor" not in sys.modules:
        return
    from twisted.internet import defer, reactor

    def before_shutdown() -> Any:
        # A "before shutdown" trigger that returns a Deferred holds the reactor until it fires.
        return defer.Deferred.fromFuture(asyncio.ensure_future(drain()))

    core: Any = reactor  # twisted's module-level reactor is typed loosely
    core.addSystemEventTrigger("before", "shutdown", before_shutdown)
    _State.installed = True
