"""Health for load balancers on a real worker: live while it runs, not ready once it drains."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.e2e.outages import SseClient, request, wait_for

pytestmark = pytest.mark.e2e


def test_ready_turns_503_as_soon_as_sigterm_starts_the_drain_while_live_stays_200(
    servers: Any, fake_model: Any
) -> None:
    fake_model(upstream_model="fake:tokens=5000:delay_ms=20")
    worker = servers(SHUTDOWN_GRACE_SECONDS="10")
    answer = SseClient(
        "POST",
        f"{worker.url}/api/v1/messages/send",
        {"model": "fake", "content": "hi"},
        {"x-anon-id": "draining-guest-01"},
    )
    answer.read_until(lambda events: len(events) >= 3)
    assert request("GET", f"{worker.url}/health/ready") == (200, {"status": "ok", "checks": ready_checks()})

    assert worker.process is not None
    worker.process.send_signal(signal.SIGTERM)

    # (A request in flight at the very moment of the signal may be cut: a poll then just tries again.)
    _, body = wait_for(lambda: (seen := polled(f"{worker.url}/health/ready")) and seen[0] == 503 and seen)
    assert body == {"status": "draining", "checks": {}}
    assert request("GET", f"{worker.url}/health/live") == (200, {"status": "ok"})
    answer.leave()
    worker.kill()  # (the drain would wait out its grace for the answer, which has nothing more to show here)


def polled(url: str) -> tuple[int, Any] | None:
    """A load balancer's poll: the answer, or ``None`` for no answer within a second."""
    try:
        return request("GET", url, timeout=1)
    except OSError:
        return None


def ready_checks() -> dict[str, str]:
    from django.conf import settings

    return {"database": "ok", **({"redis": "ok"} if settings.REDIS_URL else {})}
