"""Free messages for anonymous visitors: counted atomically, per id and per IP, given back on early failure."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from chatsite.errors import AnonLimitReached
from usage.models import AnonUsage, IpUsage
from usage.services import anon_message_acquire, anon_message_release, client_ip

pytestmark = pytest.mark.django_db


def test_the_count_stops_at_the_limit(settings: Any) -> None:
    settings.ANON_MESSAGE_LIMIT = 2
    anon_message_acquire(anon_id="guest-count-1", ip="10.0.0.1")
    anon_message_acquire(anon_id="guest-count-1", ip="10.0.0.1")

    with pytest.raises(AnonLimitReached):
        anon_message_acquire(anon_id="guest-count-1", ip="10.0.0.1")

    assert AnonUsage.objects.get(pk="guest-count-1").used == 2
    assert IpUsage.objects.get(pk="10.0.0.1").used == 2


def test_a_refusal_by_the_ip_ceiling_does_not_count_against_the_id(settings: Any) -> None:
    settings.ANON_IP_LIMIT = 1
    anon_message_acquire(anon_id="guest-ip-0001", ip="10.0.0.2")

    with pytest.raises(AnonLimitReached):
        anon_message_acquire(anon_id="guest-ip-0002", ip="10.0.0.2")

    assert not AnonUsage.objects.filter(pk="guest-ip-0002", used__gt=0).exists()


def test_a_given_back_message_can_be_used_again(settings: Any) -> None:
    settings.ANON_MESSAGE_LIMIT = 1
    anon_message_acquire(anon_id="guest-back-01", ip=None)
    anon_message_release(anon_id="guest-back-01", ip=None)

    anon_message_acquire(anon_id="guest-back-01", ip=None)

    assert AnonUsage.objects.get(pk="guest-back-01").used == 1


def test_the_count_resets_when_the_window_has_passed(settings: Any) -> None:
    settings.ANON_MESSAGE_LIMIT, settings.ANON_WINDOW_HOURS = 1, 24
    anon_message_acquire(anon_id="guest-window1", ip="10.0.0.3")
    AnonUsage.objects.filter(pk="guest-window1").update(window_start=timezone.now() - timedelta(hours=25))
    IpUsage.objects.filter(pk="10.0.0.3").update(window_start=timezone.now() - timedelta(hours=25))

    anon_message_acquire(anon_id="guest-window1", ip="10.0.0.3")

    assert AnonUsage.objects.get(pk="guest-window1").used == 1


def test_without_a_window_counts_never_reset_by_themselves(settings: Any) -> None:
    settings.ANON_MESSAGE_LIMIT, settings.ANON_WINDOW_HOURS = 1, 0
    anon_message_acquire(anon_id="guest-nowin01", ip=None)
    AnonUsage.objects.filter(pk="guest-nowin01").update(window_start=timezone.now() - timedelta(days=365))

    with pytest.raises(AnonLimitReached):
        anon_message_acquire(anon_id="guest-nowin01", ip=None)


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "1.1.1.1", "9.9.9.9"),  # no trusted proxy: the header is the client's own words
        (1, "1.1.1.1", "1.1.1.1"),
        (1, "6.6.6.6, 1.1.1.1", "1.1.1.1"),  # the client prepended a lie; the proxy appended the truth
        (2, "6.6.6.6, 1.1.1.1, 2.2.2.2", "1.1.1.1"),
        (2, "1.1.1.1", "9.9.9.9"),  # fewer entries than trusted hops: fall back to the socket
    ],
)
def test_the_client_ip_trusts_only_the_configured_proxies(
    settings: Any, hops: int, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = hops

    assert client_ip({"REMOTE_ADDR": "9.9.9.9", "HTTP_X_FORWARDED_FOR": forwarded}) == expected
