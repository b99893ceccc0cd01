"""Quota and money writes. Every counter and balance moves by a conditional update inside a transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from chatsite.errors import AnonLimitReached, InsufficientBalance, ValidationError
from chatsite.identity import Identity
from usage.models import AnonUsage, Balance, IpUsage, LedgerEntry, Reservation
from usage.money import ZERO, credits


@dataclass(frozen=True)
class QuotaHold:
    """What one admitted generation holds until it ends: a guest's free message (counted for ``anon_id`` and,
    when known, ``ip``), credit reserved for a user, or nothing (a user on a free model)."""

    anon_id: str | None = None
    ip: str | None = None
    reservation_id: uuid.UUID | None = None


def client_ip(meta: dict[str, Any]) -> str | None:
    """The caller's IP: REMOTE_ADDR, or the X-Forwarded-For entry added by the last trusted proxy."""
    remote = meta.get("REMOTE_ADDR") or None
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",") if part.strip()]
    if len(forwarded) < hops:
        return remote
    return forwarded[-hops]


def _window_cutoff() -> Any:
    """Counts from a window that started before this are stale (only when ANON_WINDOW_HOURS is set)."""
    return timezone.now() - timedelta(hours=settings.ANON_WINDOW_HOURS)


def _window_expired(start: Any) -> bool:
    return bool(settings.ANON_WINDOW_HOURS) and start < _window_cutoff()


def _count_one(model: type[AnonUsage] | type[IpUsage], key: str, limit: int, **extra: Any) -> bool:
    """One more use of ``key`` if it is under ``limit``. Nearly always a single conditional update; only a new
    key or an expired window needs the row created or its window restarted first."""
    current = model.objects.filter(pk=key, used__lt=limit)
    if settings.ANON_WINDOW_HOURS:
        current = current.filter(window_start__gte=_window_cutoff())
    if current.update(used=F("used") + 1, **extra):
        return True
    row, _ = model.objects.get_or_create(pk=key)
    if _window_expired(row.window_start):
        model.objects.filter(pk=key, window_start=row.window_start).update(used=0, window_start=timezone.now())
    return bool(model.objects.filter(pk=key, used__lt=limit).update(used=F("used") + 1, **extra))


@transaction.atomic
def anon_message_acquire(*, anon_id: str, ip: str | None) -> None:
    """Count one free message for an anonymous id and its IP, or refuse with ANON_LIMIT_REACHED."""
    if not _count_one(AnonUsage, anon_id, settings.ANON_MESSAGE_LIMIT, last_ip=ip):
        raise AnonLimitReached()
    if ip and not _count_one(IpUsage, ip, settings.ANON_IP_LIMIT):
        # Raising rolls back the id's increment too: a refused send counts nowhere.
        raise AnonLimitReached("Too many free messages from your network. Sign in to go on.")


@transaction.atomic
def anon_message_release(*, anon_id: str, ip: str | None) -> None:
    """Give a free message back (its answer never started)."""
    AnonUsage.objects.filter(pk=anon_id, used__gt=0).update(used=F("used") - 1)
    if ip:
        IpUsage.objects.filter(pk=ip, used__gt=0).update(used=F("used") - 1)


def balance_ensure(*, user_id: int) -> None:
    Balance.objects.get_or_create(user_id=user_id)


@transaction.atomic
def balance_reserve(*, user_id: int, amount: Decimal) -> uuid.UUID:
    """Hold ``amount`` of the user's available credit, or refuse with INSUFFICIENT_BALANCE."""
    amount = credits(amount)
    # (No balance row is a balance of 0: the update below then holds nothing and the send is refused.)
    held = Balance.objects.filter(user_id=user_id, balance__gte=F("reserved") + amount).update(
        reserved=F("reserved") + amount
    )
    if not held:
        raise InsufficientBalance()
    return Reservation.objects.create(user_id=user_id, amount=amount).pk


@transaction.atomic
def reservation_settle(*, reservation_id: uuid.UUID, cost: Decimal, message_id: Any = None) -> Decimal:
    """Close a reservation and charge ``cost`` (capped at what was reserved) with its ledger entry.

    Settling twice is harmless: only an open reservation is closed, so a message is charged once.
    """
    reservation = Reservation.objects.select_for_update().filter(pk=reservation_id, status="open").first()
    if reservation is None:
        return ZERO
    charge = credits(min(max(cost, ZERO), reservation.amount))
    Balance.objects.filter(user_id=reservation.user_id).update(
        reserved=F("reserved") - reservation.amount, balance=F("balance") - charge
    )
    reservation.status = Reservation.Status.SETTLED if charge > 0 else Reservation.Status.RELEASED
    reservation.charged = charge
    reservation.closed_at = timezone.now()
    reservation.save(update_fields=["status", "charged", "closed_at"])
    if charge > 0:
        after = Balance.objects.values_list("balance", flat=True).get(user_id=reservation.user_id)
        LedgerEntry.objects.create(
            user_id=reservation.user_id,
            kind=LedgerEntry.Kind.CHARGE,
            amount=-charge,
            balance_after=after,
            message_id=message_id,
            note=f"reserved {reservation.amount}",
        )
    return charge


@transaction.atomic
def balance_grant(*, user_id: int, amount: Decimal, note: str = "", kind: str = LedgerEntry.Kind.GRANT) -> LedgerEntry:
    """Add (or, for an adjustment, remove) credit with its ledger entry; a balance never goes below zero."""
    amount = credits(amount)
    if kind == LedgerEntry.Kind.GRANT and amount <= 0:
        raise ValidationError("A grant must be a positive amount.")
    balance_ensure(user_id=user_id)
    changed = Balance.objects.filter(user_id=user_id, balance__gte=F("reserved") - amount).update(
        balance=F("balance") + amount
    )
    if not changed:
        raise InsufficientBalance("That would take the balance below zero or below what is reserved.")
    after = Balance.objects.values_list("balance", flat=True).get(user_id=user_id)
    return LedgerEntry.objects.create(user_id=user_id, kind=kind, amount=amount, balance_after=after, note=note)


def account_open(*, user_id: int) -> None:
    """A new account starts with NEW_USER_CREDITS."""
    balance_ensure(user_id=user_id)
    if settings.NEW_USER_CREDITS > 0:
        balance_grant(user_id=user_id, amount=settings.NEW_USER_CREDITS, note="welcome credit")


def anon_usage_claim(*, anon_id: str, user_id: int) -> None:
    """A guest who signed in: their anonymous id no longer counts free messages against them."""
    AnonUsage.objects.filter(pk=anon_id).update(used=0, claimed_by_id=user_id, window_start=timezone.now())


def quota_acquire(*, identity: Identity, ip: str | None, reserve: Decimal) -> QuotaHold:
    """Admit one generation: count a guest's free message, or reserve the most a user's answer can cost."""
    if identity.anon_id is not None:
        anon_message_acquire(anon_id=identity.anon_id, ip=ip)
        return QuotaHold(anon_id=identity.anon_id, ip=ip)
    assert identity.user_id is not None
    if reserve <= 0:
        return QuotaHold()
    return QuotaHold(reservation_id=balance_reserve(user_id=identity.user_id, amount=reserve))


def hold_close(*, hold: QuotaHold, cost: Decimal = ZERO, message_id: Any = None, give_back: bool = False) -> Decimal:
    """End a hold, the one way money and free messages come back: charge ``cost`` against the reservation
    (capped at what was reserved; zero releases it) and, with ``give_back``, return a guest's free message.

    Returns the cost to record on the answer: what was charged, or for a guest what the answer would have cost
    (guests are never charged). Closing a reservation twice charges once.
    """
    if hold.anon_id is not None:
        if give_back:
            anon_message_release(anon_id=hold.anon_id, ip=hold.ip)
        return cost
    if hold.reservation_id is None:
        return ZERO  # a free model for a user: nothing was reserved, nothing is charged
    return reservation_settle(reservation_id=hold.reservation_id, cost=cost, message_id=message_id)


def quota_release(*, hold: QuotaHold) -> None:
    """Undo a hold whose answer never started: nothing charged, the free message given back."""
    hold_close(hold=hold, give_back=True)


def reservation_attach(*, reservation_id: uuid.UUID, message_id: Any) -> None:
    Reservation.objects.filter(pk=reservation_id).update(message_id=message_id)
