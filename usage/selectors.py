"""Reads of usage: what a caller has used and may still use."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Count, Min

from chatsite.identity import Identity
from chatsite.sql import decimal_value, fetch_one
from usage.models import AnonUsage, Balance, LedgerEntry, Reservation
from usage.money import ZERO, credits_text


def usage_info(*, identity: Identity) -> dict[str, Any]:
    """The ``usage_info`` payload, the same on every transport (read in SQL: it ends every answer)."""
    if identity.anon_id is not None:
        row = fetch_one(f"SELECT used FROM {AnonUsage._meta.db_table} WHERE anon_id = %s", [identity.anon_id])
        used, limit = (int(row[0]) if row else 0), settings.ANON_MESSAGE_LIMIT
        return {"anonymous": True, "used": used, "limit": limit, "remaining": max(limit - used, 0)}
    assert identity.user_id is not None
    row = fetch_one(f"SELECT balance, reserved FROM {Balance._meta.db_table} WHERE user_id = %s", [identity.user_id])
    balance, reserved = (decimal_value(row[0]), decimal_value(row[1])) if row else (ZERO, ZERO)
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


def reservations_open_summary() -> tuple[int, datetime | None]:
    """How many reservations are open, and when the oldest of them was opened (one indexed query)."""
    reservations = Reservation.objects.filter(status=Reservation.Status.OPEN)
    summary = reservations.aggregate(count=Count("pk"), oldest=Min("created_at"))
    return summary["count"], summary["oldest"]
