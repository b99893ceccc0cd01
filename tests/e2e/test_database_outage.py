"""PostgreSQL cut off or hung under a real worker (through a TCP proxy the test controls; the shared server is
never touched): a send gets a coded answer at once, nothing is half-written, a running answer is still stored."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from chats.models import Message
from tests.e2e.outages import SseClient, TcpProxy, request, wait_for
from tests.e2e.servers import Server
from usage.models import AnonUsage, LedgerEntry, Reservation
from usage.services import balance_grant

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

SEND = "/api/v1/messages/send"
GUEST = {"x-anon-id": "db-outage-guest-01"}


@pytest.fixture
def proxy(transactional_db: Any) -> Iterator[TcpProxy]:
    db = connection.settings_dict
    forwarder = TcpProxy(db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432))
    yield forwarder
    forwarder.close()


def through(proxy: TcpProxy) -> dict[str, str]:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    url = f"postgres://{db.get('USER') or 'postgres'}{password}@127.0.0.1:{proxy.port}/{db['NAME']}"
    return {
        "DATABASE_URL": url,
        "DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
        "DATABASE_CALL_TIMEOUT_SECONDS": "2",
        "SSE_PING_SECONDS": "0.5",
    }


def used() -> int:
    return AnonUsage.objects.filter(pk=GUEST["x-anon-id"]).values_list("used", flat=True).first() or 0


@pytest.mark.parametrize("kind", ["cut", "freeze"])
def test_a_send_while_the_database_is_unreachable_is_refused_at_once_and_writes_nothing(
    kind: str, servers: Any, proxy: TcpProxy
) -> None:
    worker: Server = servers(**through(proxy))
    assert request("POST", f"{worker.url}{SEND}", GUEST, {"content": "before"})[0] == 200
    messages = Message.objects.count()

    proxy.cut() if kind == "cut" else proxy.freeze()
    status, body = request("POST", f"{worker.url}{SEND}", GUEST, {"content": "during"})
    health = request("GET", f"{worker.url}/health")
    proxy.restore()

    assert status == 503
    assert body[0].name == "assistant_error" and body[0].data["code"] == "SERVICE_UNAVAILABLE"
    assert health[0] == 503 and health[1]["checks"]["database"].startswith("error")
    assert Message.objects.count() == messages
    assert used() == 1
    wait_for(lambda: request("GET", f"{worker.url}/health/ready")[0] == 200)
    status, body = request("POST", f"{worker.url}{SEND}", GUEST, {"content": "after"})
    assert status == 200 and body[-1].name == "usage_info"
    assert "Traceback" not in worker.log(), worker.log()


def test_an_answer_that_ends_while_the_database_is_cut_off_is_stored_and_settled_once_it_returns(
    servers: Any, fake_model: Any, proxy: TcpProxy
) -> None:
    fake_model(upstream_model="fake:tokens=30:delay_ms=20", input_price=Decimal(1000), output_price=1000)
    user = get_user_model().objects.create_user(username="db-outage-payer", password="s3cret-pass-word")
    balance_grant(user_id=user.pk, amount=Decimal("10"))
    auth = {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}
    worker: Server = servers(**through(proxy))
    answer = SseClient("POST", f"{worker.url}{SEND}", {"model": "fake", "content": "hi"}, auth)
    answer.read_until(lambda events: len(events) >= 2)

    proxy.cut()
    answer.read_until(lambda events: sum(e.name == "assistant_delta" for e in events) == 30)
    time.sleep(1)  # the answer is over upstream and cannot be stored yet
    proxy.restore()
    answer.read_to_end()

    assert [event.name for event in answer.events][-2:] == ["assistant_complete", "usage_info"]
    assert answer.pings > 0
    message = Message.objects.get(pk=answer.events[0].data["message_id"])
    assert message.status == "complete" and message.content == " ".join(f"tok{i}" for i in range(30))
    assert -LedgerEntry.objects.get(user=user, kind="charge").amount == message.cost > 0
    assert not Reservation.objects.filter(status="open").exists()
    call_command("check_ledger")


def test_the_auth_endpoints_answer_service_unavailable_while_the_database_is_unreachable(
    servers: Any, proxy: TcpProxy, user: Any
) -> None:
    worker: Server = servers(**through(proxy))
    me = {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}
    assert request("GET", f"{worker.url}/api/v1/auth/me", me)[0] == 200

    proxy.cut()
    answers = [
        request("GET", f"{worker.url}/api/v1/auth/me", me),
        request("POST", f"{worker.url}/api/v1/auth/token", body={"username": "alice", "password": "s3cret-pass-word"}),
    ]
    proxy.restore()

    for status, body in answers:
        assert (status, body["code"]) == (503, "SERVICE_UNAVAILABLE")
    wait_for(lambda: request("GET", f"{worker.url}/api/v1/auth/me", me)[0] == 200)
