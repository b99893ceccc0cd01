"""Quotas under real concurrency: parallel requests against running server processes."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework_simplejwt.tokens import RefreshToken

from tests.e2e.http import parallel, post_stream
from usage.models import AnonUsage, Balance, LedgerEntry, Reservation
from usage.selectors import ledger_mismatches
from usage.services import balance_grant

pytestmark = pytest.mark.e2e


def test_twenty_parallel_sends_at_limit_five_let_exactly_five_through(servers: Any) -> None:
    server = servers(ANON_MESSAGE_LIMIT="5")
    send = functools.partial(
        post_stream, f"{server.url}/api/v1/messages/send", {"content": "hi"}, {"x-anon-id": "racing-guest-01"}
    )

    results = parallel([send] * 20)

    streamed = [r for r in results if r.status == 200]
    refused = [r for r in results if r.status == 429]
    assert len(streamed) == 5, [r.status for r in results]
    assert len(refused) == 15
    assert all(r.codes == ["ANON_LIMIT_REACHED"] for r in refused)
    assert all(r.events[-1].name == "usage_info" for r in streamed)
    assert AnonUsage.objects.get(pk="racing-guest-01").used == 5


def test_rotating_anon_ids_hits_the_ip_ceiling(servers: Any) -> None:
    server = servers(ANON_MESSAGE_LIMIT="5", ANON_IP_LIMIT="3")
    sends = [
        functools.partial(
            post_stream, f"{server.url}/api/v1/messages/send", {"content": "hi"}, {"x-anon-id": f"rotating-{i:04d}"}
        )
        for i in range(8)
    ]

    results = parallel(sends)

    assert sorted(r.status for r in results) == [200] * 3 + [429] * 5
    assert sum(row.used for row in AnonUsage.objects.all()) == 3


@pytest.mark.postgres
@pytest.mark.redis
def test_a_balance_for_three_answers_is_never_overspent_across_two_processes(servers: Any, fake_model: Any) -> None:
    # Each send reserves (5 prompt tokens * 1000 + 100 output tokens * 1000) / 1M = 0.105 credits.
    fake_model(
        name="paid",
        upstream_model="fake:tokens=20:delay_ms=100",
        input_price=Decimal(1000),
        output_price=Decimal(1000),
        max_output_tokens=100,
    )
    user = get_user_model().objects.create_user(username="spender", password="s3cret-pass-word")
    balance_grant(user_id=user.pk, amount=Decimal("0.4"))  # three reservations fit, a fourth does not
    token = str(RefreshToken.for_user(user).access_token)
    first, second = servers(), servers()
    sends = [
        functools.partial(
            post_stream,
            f"{server.url}/api/v1/messages/send",
            {"model": "paid", "content": "hi"},
            {"Authorization": f"Bearer {token}"},
        )
        for server in (first, second) * 10
    ]

    results = parallel(sends)

    streamed = [r for r in results if r.status == 200]
    assert 1 <= len(streamed) <= 3, [r.status for r in results]
    assert all(r.codes == ["INSUFFICIENT_BALANCE"] for r in results if r.status != 200)
    assert all(r.status in (200, 402) for r in results)
    balance = Balance.objects.get(user=user)
    charges = LedgerEntry.objects.filter(user=user, kind="charge")
    assert charges.count() == len(streamed)
    assert balance.balance == Decimal("0.4") + sum(entry.amount for entry in charges)
    assert balance.balance >= 0 and balance.reserved == 0
    assert not Reservation.objects.filter(user=user, status="open").exists()
    assert ledger_mismatches() == []
    call_command("check_ledger")
