"""Reads of usage: what a caller has used and may still use."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings

from chatsite.identity import Identity
from usage.models import AnonUsage, Balance, LedgerEntry, Reservation
from usage.money import ZERO, credits_text


def usage_info(*, identity: Identity) -> dict[str, Any]:
    """The ``usage_info`` payload, the same on every transport."""
    if identity.anon_id is not None:
        used = AnonUsage.objects.filter(pk=identity.anon_id).values_list("used", flat=True).first() or 0
        limit = settings.ANON_MESSAGE_LIMIT
        return {"anonymous": True, "used": used, "limit": limit, "remaining": max(limit - used, 0)}
    assert identity.user_id is not None
    row = Balance.objects.filter(user_id=identity.user_id).first()
    balance = row.balance if row else ZERO
    reserved = row.reserved if row else ZERO
    return {
        "anonymous": False,
        "balance": credits_text(balance),
        "reserved": credits_text(reserved),
        "available": credits_text(balance - reserved),
    }


def ledger_mismatches() -> list[tuple[int, Decimal, Decimal]]:
    """Users whose balance differs from the sum of their ledger: (user id, balance, ledger sum).

    The sum is taken in Python with Decimal: SQLite would add the amounts as floats and lose the last places.
    """
    sums: dict[int, Decimal] = defaultdict(Decimal)
    for user_id, amount in LedgerEntry.objects.values_list("user_id", "amount").iterator(chunk_size=5000):
        sums[user_id] += amount
    mismatches = []
    for user_id, balance in Balance.objects.values_list("user_id", "balance"):
        total = sums.pop(user_id, Decimal("0"))
        if total != balance:
            mismatches.append((user_id, balance, total))
    mismatches.extend((user_id, Decimal("0"), total) for user_id, total in sums.items() if total)
    return mismatches


def reservation_open_for(*, message_id: Any) -> UUID | None:
    """The credit still held for an answer, if any."""
    return (
        Reservation.objects.filter(message_id=message_id, status=Reservation.Status.OPEN)
        .values_list("pk", flat=True)
        .first()
    )


def reservations_orphaned(*, opened_before: datetime, limit: int = 500) -> list[UUID]:
    """Credit held for sends whose process died before it wrote the answer's row."""
    orphans = Reservation.objects.filter(status=Reservation.Status.OPEN, message__isnull=True)
    return list(orphans.filter(created_at__lt=opened_before).values_list("pk", flat=True)[:limit])
