"""Logging a failure that repeats, such as Redis being down for every socket and every push, once per interval
instead of once per attempt, and once when it ends."""

from __future__ import annotations

import logging
import time

INTERVAL_SECONDS = 10.0


class FailureLog:
    def __init__(self, logger: logging.Logger, what: str, interval: float = INTERVAL_SECONDS) -> None:
        self.logger, self.what, self.interval = logger, what, interval
        self._since: float | None = None  # when the current run of failures began
        self._logged_at = 0.0
        self._unlogged = 0

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        if self._since is None:
            self._since = now
        elif now - self._logged_at < self.interval:
            self._unlogged += 1
            return
        more = f" ({self._unlogged} more failures not logged)" if self._unlogged else ""
        self.logger.error("%s failed: %s: %s%s", self.what, type(error).__name__, error, more)
        self._logged_at, self._unlogged = now, 0

    def succeeded(self) -> None:
        if self._since is not None:
            self.logger.warning("%s works again after %.1f s of failures", self.what, time.monotonic() - self._since)
            self._since, self._unlogged = None, 0
