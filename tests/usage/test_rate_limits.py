"""The fixed-window rate limiter the auth endpoints count with (its races are in tests/e2e/test_auth_abuse.py)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from chatsite.errors import RateLimited
from usage.models import RateCounter
from usage.rate_limits import RateLimit, rate_counters_prune, rate_limit_give_back, rate_limit_take

pytestmark = pytest.mark.django_db

THREE_A_MINUTE = RateLimit(scope="test", limit=3, window=timedelta(minutes=1), message="Slow down.")


def _take(subject: str = "10.0.0.1", rule: RateLimit = THREE_A_MINUTE) -> None:
    rate_limit_take(rule=rule, subject=subject)


def _age(seconds: float, subject: str = "10.0.0.1") -> None:
    """Move a counter's window into the past, as if ``seconds`` had gone by."""
    RateCounter.objects.filter(subject=subject).update(window_end=F("window_end") - timedelta(seconds=seconds))


def test_it_allows_the_limit_then_refuses_with_the_seconds_left_in_the_window() -> None:
    for _ in range(3):
        _take()

    with pytest.raises(RateLimited) as refused:
        _take()

    assert refused.value.code == "RATE_LIMITED" and refused.value.status == 429
    assert refused.value.message == "Slow down."
    assert 1 <= refused.value.retry_after <= 60
    assert refused.value.headers() == {"Retry-After": str(refused.value.retry_after)}
    seconds = refused.value.retry_after
    assert refused.value.payload() == {"code": "RATE_LIMITED", "error": "Slow down.", "retry_after": seconds}


def test_the_seconds_left_shrink_as_the_window_runs() -> None:
    for _ in range(3):
        _take()
    _age(45)

    with pytest.raises(RateLimited) as refused:
        _take()

    assert 1 <= refused.value.retry_after <= 15


def test_a_window_that_ended_starts_over_with_the_next_attempt() -> None:
    for _ in range(3):
        _take()
    _age(61)

    _take()

    counter = RateCounter.objects.get(subject="10.0.0.1")
    assert counter.count == 1
    assert counter.window_end - timezone.now() > timedelta(seconds=30)


def test_subjects_and_scopes_count_apart() -> None:
    other_scope = RateLimit(scope="other", limit=1, window=timedelta(minutes=1), message="")
    for _ in range(3):
        _take("10.0.0.1")

    _take("10.0.0.2")
    _take("10.0.0.1", rule=other_scope)
    with pytest.raises(RateLimited):
        _take("10.0.0.1")


def test_a_limit_of_zero_is_no_limit() -> None:
    unlimited = RateLimit(scope="test", limit=0, window=timedelta(minutes=1), message="")

    for _ in range(20):
        _take(rule=unlimited)

    assert not RateCounter.objects.exists()


def test_an_attempt_given_back_makes_room_for_one_more() -> None:
    for _ in range(3):
        _take()

    rate_limit_give_back(rule=THREE_A_MINUTE, subject="10.0.0.1")

    _take()
    with pytest.raises(RateLimited):
        _take()


def test_giving_back_never_counts_below_zero_nor_into_an_ended_window() -> None:
    rate_limit_give_back(rule=THREE_A_MINUTE, subject="10.0.0.1")  # nothing counted yet
    _take()
    _age(61)

    rate_limit_give_back(rule=THREE_A_MINUTE, subject="10.0.0.1")

    assert RateCounter.objects.get(subject="10.0.0.1").count == 1


def test_a_subject_longer_than_a_column_is_cut_not_refused_with_a_crash() -> None:
    for _ in range(3):
        _take("x" * 1000)

    with pytest.raises(RateLimited):
        _take("x" * 999)  # the same first 255 characters: the same counter


def test_prune_deletes_the_counters_of_ended_windows_only() -> None:
    _take("10.0.0.1")
    _take("10.0.0.2")
    _age(61, subject="10.0.0.1")

    assert rate_counters_prune() == 1

    assert list(RateCounter.objects.values_list("subject", flat=True)) == ["10.0.0.2"]


def test_the_prune_command_deletes_ended_counters_and_says_how_many() -> None:
    _take("10.0.0.1")
    _take("10.0.0.2")
    _age(61, subject="10.0.0.2")
    out = io.StringIO()

    call_command("prune_rate_counters", stdout=out)

    assert out.getvalue().strip() == "1 ended rate-limit counter(s) deleted"
    assert list(RateCounter.objects.values_list("subject", flat=True)) == ["10.0.0.1"]
