"""Redis stopped, paused and restarted under two real workers: nobody waits without a byte, nothing is lost.

Each test starts a ``redis-server`` of its own (never the shared one) and two server workers on it. The servers'
Redis timeout, probe, ping and stall bounds are shortened so that each test takes seconds. Every client read is
bounded (``READ_TIMEOUT``): a request that goes silent fails the test instead of hanging it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework_simplejwt.tokens import RefreshToken

from chats.models import Message
from messaging.models import LanguageModel
from tests.e2e.http import parallel
from tests.e2e.outages import OwnRedis, SseClient, request, wait_for
from tests.e2e.servers import Server
from tests.sse import Event, joined_deltas
from usage.models import AnonUsage, LedgerEntry, Reservation
from usage.services import balance_grant

pytestmark = pytest.mark.e2e

SEND = "/api/v1/messages/send"
TERMINAL = {"assistant_complete", "usage_info"}


def on(redis: OwnRedis) -> dict[str, str]:
    """A worker on the test's Redis, with bounds short enough for a test."""
    return {
        "REDIS_URL": redis.url,
        "REDIS_PREFIX": "chatsite-outage",
        "REDIS_TIMEOUT_SECONDS": "1",
        "HEALTH_PROBE_SECONDS": "0.3",
        "SSE_PING_SECONDS": "0.5",
        "STREAM_LOG_STALL_SECONDS": "3",
        "GENERATION_ORPHAN_SECONDS": "3",
    }


def paying_user() -> tuple[Any, dict[str, str]]:
    user = get_user_model().objects.create_user(username="outage-payer", password="s3cret-pass-word")
    balance_grant(user_id=user.pk, amount=Decimal("10"))
    return user, {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def deltas(count: int) -> Callable[[list[Event]], bool]:
    return lambda events: sum(event.name == "assistant_delta" for event in events) >= count


def text_of(events: list[Event]) -> str:
    """The answer as a client shows it: deltas appended, a ``full`` delta replacing what came before."""
    text = ""
    for event in events:
        if event.name == "assistant_delta":
            text = event.data["delta"] if event.data.get("full") else text + event.data["delta"]
    return text


def used(guest: dict[str, str]) -> int:
    return AnonUsage.objects.filter(pk=guest["x-anon-id"]).values_list("used", flat=True).first() or 0


def ready(server: Server) -> int:
    return request("GET", f"{server.url}/health/ready")[0]


def assert_recovered(*workers: Server) -> None:
    """After the outage: both workers ready, nothing left streaming or held, the ledger whole, no tracebacks."""
    for worker in workers:
        wait_for(lambda worker=worker: ready(worker) == 200)
    wait_for(lambda: not Message.objects.filter(status="streaming").exists())
    assert not Reservation.objects.filter(status="open").exists()
    call_command("check_ledger")  # raises on a mismatch
    for worker in workers:
        assert "Traceback" not in worker.log(), worker.log()
        assert worker.log().count("chatsite.outages Redis is unreachable") <= 1, worker.log()  # once, not per call


def outage_begin(redis: OwnRedis, kind: str) -> None:
    if kind == "pause":
        redis.pause()
    else:
        redis.kill()


def outage_end(redis: OwnRedis, kind: str) -> None:
    if kind == "pause":
        redis.resume()
    elif kind == "kill":
        redis.start()


@pytest.mark.parametrize("kind", ["kill", "pause", "restart"])
def test_an_answer_running_when_redis_dies_finishes_and_its_remote_reader_is_never_left_hanging(
    kind: str, servers: Any, fake_model: Any, own_redis: OwnRedis
) -> None:
    model = fake_model(upstream_model="fake:tokens=160:delay_ms=25", input_price=Decimal(1000), output_price=1000)
    user, auth = paying_user()
    first, second = parallel([lambda: servers(**on(own_redis))] * 2)
    local = SseClient("POST", f"{first.url}{SEND}", {"model": "fake", "content": "hi"}, auth)
    local.read_until(deltas(3))
    message_id, token = local.events[0].data["message_id"], local.events[0].data["stream_token"]
    remote = SseClient("GET", f"{second.url}/api/v1/messages/{message_id}/stream?stream_token={token}")
    remote.read_until(deltas(3))  # the other worker follows the answer through Redis

    outage_begin(own_redis, kind)
    if kind == "restart":  # Redis comes back empty while the answer still runs
        time.sleep(0.5)
        own_redis.start()
    parallel([local.read_to_end, remote.read_to_end])

    # Stored and settled while Redis is still away (but for the restart, where it is back already).
    stored = Message.objects.get(pk=message_id)
    full = " ".join(f"tok{i}" for i in range(160))
    assert stored.status == "complete" and stored.content == full
    assert [event.name for event in local.events][-2:] == ["assistant_complete", "usage_info"]
    assert joined_deltas(local.events) == full
    charge = LedgerEntry.objects.get(user=user, kind="charge")
    expected = LanguageModel.objects.get(pk=model.pk).cost(
        prompt_tokens=stored.prompt_tokens, completion_tokens=stored.completion_tokens
    )
    assert -charge.amount == stored.cost == expected
    assert not Reservation.objects.filter(status="open").exists()
    assert_remote_reader_ended_or_can_resume(remote, second, message_id, token, full)
    outage_end(own_redis, kind)
    assert_recovered(first, second)


def assert_remote_reader_ended_or_can_resume(
    remote: SseClient, worker: Server, message_id: str, token: str, full: str
) -> None:
    """The reader on the other worker got pings while the log was unreadable, then either the answer's end (from
    the database) or a closed stream, after which a reconnecting EventSource (Last-Event-ID, here the query
    parameter) gets the rest."""
    assert remote.pings > 0, [event.name for event in remote.events]
    if remote.events[-1].name not in TERMINAL:
        url = f"{worker.url}/api/v1/messages/{message_id}/stream?stream_token={token}"
        resumed = SseClient("GET", f"{url}&last_event_id={remote.events[-1].id}")
        remote.events.extend(resumed.read_to_end())
    assert remote.events[-1].name in TERMINAL, [event.name for event in remote.events]
    assert text_of(remote.events) == full


@pytest.mark.parametrize("kind", ["kill", "pause"])
def test_a_send_while_redis_is_down_is_refused_at_once_and_gives_its_quota_back(
    kind: str, servers: Any, fake_model: Any, own_redis: OwnRedis
) -> None:
    fake_model(name="paid", upstream_model="fake:tokens=3", input_price=Decimal(1000), output_price=1000)
    user, auth = paying_user()
    guest = {"x-anon-id": "outage-guest-01"}
    worker = servers(**on(own_redis))

    outage_begin(own_redis, kind)
    # Until the worker notices, a send may still run (without the shared log); none waits silently.
    accepted = 0
    while (outcome := request("POST", f"{worker.url}{SEND}", guest, {"content": "during"}))[0] == 200:
        assert outcome[1][-1].name == "usage_info", outcome
        accepted += 1
        assert accepted < 50, "sends were never refused"
    assert outcome[0] == 503, outcome
    refusals = [request("POST", f"{worker.url}{SEND}", guest, {"content": "again"}) for _ in range(3)]
    paid = request("POST", f"{worker.url}{SEND}", auth, {"model": "paid", "content": "hi"})

    for status, body in [*refusals, paid]:
        assert status == 503
        assert body[0].name == "assistant_error" and body[0].data["code"] == "SERVICE_UNAVAILABLE"
    assert used(guest) == accepted
    assert not Reservation.objects.filter(user=user).exists()
    assert Message.objects.filter(chat__user=user).count() == 0

    outage_end(own_redis, kind)
    wait_for(lambda: ready(worker) == 200)
    status, body = request("POST", f"{worker.url}{SEND}", guest, {"content": "back"})
    assert status == 200 and body[-1].name == "usage_info"
    assert used(guest) == accepted + 1
    assert_recovered(worker)


def test_health_answers_at_once_while_redis_is_paused(servers: Any, own_redis: OwnRedis) -> None:
    worker = servers(**on(own_redis))

    own_redis.pause()
    statuses = {path: request("GET", f"{worker.url}{path}") for path in ("/health", "/health/ready", "/health/live")}
    own_redis.resume()

    assert statuses["/health"][0] == 503
    assert statuses["/health"][1]["checks"]["redis"].startswith("error")
    assert statuses["/health"][1]["checks"]["database"] == "ok"
    assert statuses["/health/ready"][0] == 503
    assert statuses["/health/live"] == (200, {"status": "ok"})
    wait_for(lambda: request("GET", f"{worker.url}/health")[0] == 200)
