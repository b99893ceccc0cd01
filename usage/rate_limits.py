"""Fixed-window rate limits, counted in the database that every worker shares.

A limit allows ``limit`` attempts per subject (an address, a username) in a window of ``window`` that starts
with the subject's first attempt; the attempt over the limit is refused with ``RATE_LIMITED`` and the seconds
until the window ends. Counting is one conditional update (``count < limit``), so parallel attempts on any
number of workers can never pass the limit together.

Why the database and not Redis: the endpoints limited here (sign-up, sign-in) write to the database anyway, so
a counter there adds no dependency that can be down while they work, runs on the embedded defaults, and can
join the caller's transaction (a sign-up that fails is not counted). The cost is a row update per attempt,
small beside the password hash each attempt pays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, QuerySet
from django.utils import timezone

from chatsite.errors import RateLimited
from usage.models import RateCounter

SUBJECT_MAX = 255  # RateCounter.subject's length; a longer subject (a forged address) is cut


@dataclass(frozen=True)
class RateLimit:
    scope: str
    limit: int  # attempts per window; 0 turns the limit off
    window: timedelta
    message: str  # the refusal's sentence


def rate_limit_take(*, rule: RateLimit, subject: str) -> None:
    """Count one attempt by ``subject``, or refuse it with ``RateLimited`` when its window is full.

    Call it inside the transaction of what it limits when that may fail: the count then rolls back with it.
    """
    if rule.limit <= 0:
        return
    subject = subject[:SUBJECT_MAX]
    if not _count_one(rule, subject, timezone.now()):
        raise RateLimited(rule.message, retry_after=_seconds_left(rule, subject))


def rate_limit_give_back(*, rule: RateLimit, subject: str) -> None:
    """Uncount an attempt that turned out not to count (a sign-in that succeeded)."""
    if rule.limit <= 0:
        return
    _current(rule, subject[:SUBJECT_MAX], timezone.now()).filter(count__gt=0).update(count=F("count") - 1)


def rate_counters_prune() -> int:
    """Delete the counters whose window has ended (they count nothing); returns how many."""
    deleted, _ = RateCounter.objects.filter(window_end__lte=timezone.now()).delete()
    return deleted


def _rows(rule: RateLimit, subject: str) -> QuerySet[RateCounter]:
    return RateCounter.objects.filter(scope=rule.scope, subject=subject)


def _current(rule: RateLimit, subject: str, now: datetime) -> QuerySet[RateCounter]:
    return _rows(rule, subject).filter(window_end__gt=now)


def _count_one(rule: RateLimit, subject: str, now: datetime) -> bool:
    """One more attempt if the window has room. Nearly always the first update; a new subject or an ended
    window needs the row created or restarted, and whoever loses that race counts in the winner's window."""
    if _current(rule, subject, now).filter(count__lt=rule.limit).update(count=F("count") + 1):
        return True
    # An ended window restarts with this attempt. Two restarts cannot both happen: the second one's condition
    # is read again on the row the first one changed (PostgreSQL) or waits for its transaction (SQLite).
    if _rows(rule, subject).filter(window_end__lte=now).update(window_end=now + rule.window, count=1):
        return True
    _, created = RateCounter.objects.get_or_create(
        scope=rule.scope, subject=subject, defaults={"window_end": now + rule.window, "count": 1}
    )
    if created:
        return True
    return bool(_current(rule, subject, now).filter(count__lt=rule.limit).update(count=F("count") + 1))


def _seconds_left(rule: RateLimit, subject: str) -> int:
    end = _rows(rule, subject).values_list("window_end", flat=True).first()
    if end is None:  # pruned in between: a whole window is the safe hint
        return math.ceil(rule.window.total_seconds())
    return math.ceil((end - timezone.now()).total_seconds())
