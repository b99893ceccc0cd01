"""Credit amounts: one precision and one text form everywhere (balances, reservations, costs)."""

from __future__ import annotations

from decimal import ROUND_UP, Decimal

ZERO = Decimal("0")
CREDIT_QUANTUM = Decimal("0.000001")


def credits(amount: Decimal, *, round_up: bool = False) -> Decimal:
    """An amount at the ledger's precision (a reservation rounds up, so it always covers the worst case)."""
    return Decimal(amount).quantize(CREDIT_QUANTUM, rounding=ROUND_UP if round_up else None)


def credits_text(amount: Decimal) -> str:
    """How every payload writes an amount: six decimal places, no exponent."""
    return f"{Decimal(amount):.6f}"
