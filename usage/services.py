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
from chatsite.sql import decimal_value, execute, fetch_one, time_param, uuid_param
from usage.models import AnonUsage, Balance, IpUsage, LedgerEntry, Reservation
from usage.money import ZERO, credits

ANON_TABLE, IP_TABLE = AnonUsage._meta.db_table, IpUsage._meta.db_table
BALANCE_TABLE, RESERVATION_TABLE, LEDGER_TABLE = (
    Balance._meta.db_table,
    Reservation._meta.db_table,
    LedgerEntry._meta.db_table,
)


@dataclass(frozen=True)
class QuotaHold:
    """What one admitted generation holds until it ends: a guest's free message (counted for ``anon_id`` and,
    when known, ``ip``), credit reserved for a user, or nothing (a user on a free model).

    A hold made by ``quota_acquire`` also knows whose reservation it is and how much it holds (``user_id``,
    ``reserved``), which lets the settlement skip reading the reservation back."""

    anon_id: str | None = None
    ip: str | None = None
    reservation_id: uuid.UUID | None = None
    user_id: int | None = None
    reserved: Decimal | None = None

    def recorded_cost(self, cost: Decimal) -> Decimal | None:
        """What an answer costing ``cost`` is recorded at when this hold settles it (its reservation open):
        the charge, capped at what was reserved; nothing for a free model; the full cost for a guest, who
        is never charged. ``None`` when the hold does not know (a hold rebuilt for a reservation)."""
        if self.anon_id is not None:
            return cost
        if self.reservation_id is None:
            return ZERO
        if self.reserved is None:
            return None
        return credits(min(max(cost, ZERO), self.reserved))


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
    if _count_existing(model, key, limit, extra):
        return True
    row, _ = model.objects.get_or_create(pk=key)
    if _window_expired(row.window_start):
        model.objects.filter(pk=key, window_start=row.window_start).update(used=0, window_start=timezone.now())
    return bool(model.objects.filter(pk=key, used__lt=limit).update(used=F("used") + 1, **extra))


def _count_existing(model: type[AnonUsage] | type[IpUsage], key: str, limit: int, extra: dict[str, Any]) -> bool:
    """The conditional update itself, in SQL (chatsite/sql.py): one use more, if the row exists, is under the
    limit and (with ANON_WINDOW_HOURS) its window has not ended."""
    sets = "".join(f", {column} = %s" for column in extra)
    window = " AND window_start >= %s" if settings.ANON_WINDOW_HOURS else ""
    params = [*extra.values(), key, limit, *([time_param(_window_cutoff())] if window else [])]
    sql = f"UPDATE {model._meta.db_table} SET used = used + 1{sets} WHERE {model._meta.pk.column} = %s AND used < %s"
    return execute(sql + window, params) == 1


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
    held = execute(
        f"UPDATE {BALANCE_TABLE} SET reserved = reserved + %s WHERE user_id = %s AND balance >= reserved + %s",
        [amount, user_id, amount],
    )
    if not held:
        raise InsufficientBalance()
    reservation_id = uuid.uuid4()
    execute(
        f"INSERT INTO {RESERVATION_TABLE} (id, user_id, message_id, amount, charged, status, created_at, closed_at)"
        " VALUES (%s, %s, NULL, %s, %s, %s, %s, NULL)",
        [uuid_param(reservation_id), user_id, amount, ZERO, Reservation.Status.OPEN, time_param(timezone.now())],
    )
    return reservation_id


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
        return QuotaHold(user_id=identity.user_id)
    reservation_id = balance_reserve(user_id=identity.user_id, amount=reserve)
    return QuotaHold(reservation_id=reservation_id, user_id=identity.user_id, reserved=credits(reserve))


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
    charge = hold.recorded_cost(cost)
    if hold.user_id is not None and charge is not None:
        return _reservation_settle_known(hold=hold, charge=charge, message_id=message_id)
    return reservation_settle(reservation_id=hold.reservation_id, cost=cost, message_id=message_id)


@transaction.atomic
def _reservation_settle_known(*, hold: QuotaHold, charge: Decimal, message_id: Any) -> Decimal:
    """``reservation_settle`` for a hold that knows its reservation: closed by one conditional update (so once),
    then the balance and the ledger, in SQL (chatsite/sql.py). Returns what was charged."""
    assert hold.reservation_id is not None and hold.user_id is not None and hold.reserved is not None
    status = Reservation.Status.SETTLED if charge > 0 else Reservation.Status.RELEASED
    closed = execute(
        f"UPDATE {RESERVATION_TABLE} SET status = %s, charged = %s, closed_at = %s WHERE id = %s AND status = %s",
        [status, charge, time_param(timezone.now()), uuid_param(hold.reservation_id), Reservation.Status.OPEN],
    )
    if not closed:
        return ZERO  # settled before (the reaper took the answer for dead): charged once
    row = fetch_one(
        f"UPDATE {BALANCE_TABLE} SET reserved = reserved - %s, balance = balance - %s WHERE user_id = %s"
        " RETURNING balance",
        [hold.reserved, charge, hold.user_id],
    )
    if charge > 0 and row is not None:
        _charge_record(
            user_id=hold.user_id,
            charge=charge,
            after=decimal_value(row[0]),
            message_id=message_id,
            reserved=hold.reserved,
        )
    return charge


def _charge_record(*, user_id: int, charge: Decimal, after: Decimal, message_id: Any, reserved: Decimal) -> None:
    execute(
        f"INSERT INTO {LEDGER_TABLE} (user_id, kind, amount, balance_after, message_id, note, created_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [
            user_id,
            LedgerEntry.Kind.CHARGE,
            -charge,
            credits(after),
            uuid_param(message_id),
            f"reserved {reserved}",
            time_param(timezone.now()),
        ],
    )


def quota_release(*, hold: QuotaHold) -> None:
    """Undo a hold whose answer never started: nothing charged, the free message given back."""
    hold_close(hold=hold, give_back=True)


def reservation_attach(*, reservation_id: uuid.UUID, message_id: uuid.UUID) -> None:
    execute(
        f"UPDATE {RESERVATION_TABLE} SET message_id = %s WHERE id = %s",
        [uuid_param(message_id), uuid_param(reservation_id)],
    )
