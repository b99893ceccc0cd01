"""A failure that repeats is logged once per interval, not once per attempt, and once when it ends."""

from __future__ import annotations

import logging

import pytest

from chatsite.failures import FailureLog

log = logging.getLogger("tests.failures")


def test_a_repeated_failure_is_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    failures = FailureLog(log, "Reaching Redis", interval=3600)

    for _ in range(500):
        failures.failed(ConnectionError("Connection refused"))

    assert [record.getMessage() for record in caplog.records] == [
        "Reaching Redis failed: ConnectionError: Connection refused"
    ]


def test_the_next_line_counts_the_failures_it_did_not_log(caplog: pytest.LogCaptureFixture) -> None:
    failures = FailureLog(log, "Reaching Redis", interval=0)
    failures.failed(ConnectionError("down"))
    failures.interval = 3600
    for _ in range(3):
        failures.failed(ConnectionError("down"))
    failures.interval = 0

    failures.failed(TimeoutError("slow"))

    assert caplog.records[-1].getMessage() == "Reaching Redis failed: TimeoutError: slow (3 more failures not logged)"


def test_the_end_of_a_failure_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    failures = FailureLog(log, "Reaching Redis")
    failures.succeeded()
    failures.failed(ConnectionError("down"))

    failures.succeeded()
    failures.succeeded()

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[1].startswith("Reaching Redis works again after ")
