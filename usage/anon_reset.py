"""Operator resets of the free-message counters (the admin action's bulk counterpart for the shell)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from usage.models import AnonUsage, IpUsage


@dataclass(frozen=True)
class AnonUsageSelection:
    """Which counters to reset; exactly one of the fields is set.

    ``ip`` means the anonymous ids last seen from that address and the address's own counter;
    ``older_than`` means counters whose window started longer ago than that.
    """

    everything: bool = False
    anon_id: str | None = None
    ip: str | None = None
    older_than: timedelta | None = None

    def __post_init__(self) -> None:
        chosen = [self.everything, self.anon_id is not None, self.ip is not None, self.older_than is not None]
        if sum(chosen) != 1:
            raise ValueError("choose exactly one of everything, anon_id, ip, older_than")


@dataclass(frozen=True)
class AnonUsageResetCount:
    anon: int
    ip: int


def anon_usage_selected(
    *, selection: AnonUsageSelection, now: datetime | None = None
) -> tuple[QuerySet[AnonUsage], QuerySet[IpUsage]]:
    """The anonymous-id and IP counter rows a selection covers (what a dry run shows)."""
    anon, ips = AnonUsage.objects.all(), IpUsage.objects.all()
    if selection.anon_id is not None:
        return anon.filter(pk=selection.anon_id), ips.none()
    if selection.ip is not None:
        return anon.filter(last_ip=selection.ip), ips.filter(pk=selection.ip)
    if selection.older_than is not None:
        cutoff = (now or timezone.now()) - selection.older_than
        return anon.filter(window_start__lt=cutoff), ips.filter(window_start__lt=cutoff)
    return anon, ips


@transaction.atomic
def anon_usage_reset(*, selection: AnonUsageSelection) -> AnonUsageResetCount:
    """Set the selected counters to zero with a window starting now; how many rows of each kind were reset."""
    now = timezone.now()
    anon, ips = anon_usage_selected(selection=selection, now=now)
    return AnonUsageResetCount(anon=anon.update(used=0, window_start=now), ip=ips.update(used=0, window_start=now))
