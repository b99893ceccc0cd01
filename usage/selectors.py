"""Reads of usage: what a caller has used and may still use."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.conf import settings

from chatsite.identity import Identity
from usage.models import AnonUsage, Balance, LedgerEntry


def usage_info(*, identity: Identity) -> dict[str, Any]:
    """The ``usage_info`` payload, the same on every transport."""
    if identity.anon_id is not None:
        used = AnonUsage.objects.filter(pk=identity.anon_id).values_list("used", flat=True).first() or 0
        limit = settings.ANON_MESSAGE_LIMIT
        return {"anonymous": True, "used": used, "limit": limit, "remaining": max(limit - used, 0)}
    assert identity.user_id is not None
    row = Balance.objects.filter(user_id=identity.user_id).first()
    balance = row.balance if row else Decimal("0")
    reserved = row.reserved if row else Decimal("0")
    return {
        "anonymous": False,
        "balance": str(balance),
        "reserved": str(reserved),
        "available": str(balance - reserved),
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
