"""The process's own state that several layers read: whether it is draining for a shutdown."""

from __future__ import annotations


class _State:
    draining = False


def is_draining() -> bool:
    return _State.draining


def drain_begin() -> None:
    """From now on new sends are refused (``SERVER_SHUTTING_DOWN``) while running answers finish."""
    _State.draining = True
