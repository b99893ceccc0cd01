from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class AnonUsage(models.Model):
    """Free messages used by one anonymous id since ``window_start``."""

    anon_id = models.CharField(max_length=128, primary_key=True)
    used = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField(auto_now_add=True)
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    last_seen = models.DateTimeField(auto_now=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "anonymous usage"

    def __str__(self) -> str:
        return f"{self.anon_id}: {self.used}"


class IpUsage(models.Model):
    """Free messages used from one client IP across all anonymous ids, so rotating ids is not a way around."""

    ip = models.GenericIPAddressField(primary_key=True)
    used = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "anonymous usage by IP"

    def __str__(self) -> str:
        return f"{self.ip}: {self.used}"


class Balance(models.Model):
    """A user's credit. ``reserved`` is held by running generations; what may be reserved is the rest."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="balance"
    )
    balance = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    reserved = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="balance_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="reserved_not_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("balance")), name="reserved_within_balance"),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.balance}"

    @property
    def available(self) -> Decimal:
        return self.balance - self.reserved


class Reservation(models.Model):
    """Credit held for one generation from its start until it is settled (charged) or released."""

    class Status(models.TextChoices):
        OPEN = "open"
        SETTLED = "settled"
        RELEASED = "released"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reservations")
    message = models.OneToOneField(
        "chats.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="reservation"
    )
    amount = models.DecimalField(max_digits=18, decimal_places=6)
    charged = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("0"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="reservation_open")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="reservation_amount_not_negative"),
            models.CheckConstraint(condition=Q(charged__lte=F("amount")), name="charge_within_reservation"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.amount} {self.status}"


class LedgerEntry(models.Model):
    """An append-only record of every change of a balance: the balance always equals the sum of its entries."""

    class Kind(models.TextChoices):
        GRANT = "grant"
        CHARGE = "charge"
        REFUND = "refund"
        ADJUSTMENT = "adjustment"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ledger")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(max_digits=18, decimal_places=6)
    balance_after = models.DecimalField(max_digits=18, decimal_places=6)
    message = models.ForeignKey(
        "chats.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="ledger_entries"
    )
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["user", "-created_at"], name="ledger_user_recent")]
        constraints = [
            # A message is charged at most once, whatever races between processes.
            models.UniqueConstraint(
                fields=["message"], condition=Q(kind="charge"), name="ledger_one_charge_per_message"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"


class RateCounter(models.Model):
    """Attempts of one kind (``scope``: sign-ups per address, failed sign-ins per username...) by one subject
    in the window that ends at ``window_end``: the state of a fixed-window rate limit, in the database every
    worker shares. A row whose window ended counts nothing and may be deleted at any time."""

    scope = models.CharField(max_length=32)
    subject = models.CharField(max_length=255)
    count = models.PositiveIntegerField(default=0)
    window_end = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "subject"], name="rate_counter_one_per_subject")]
        indexes = [models.Index(fields=["window_end"], name="rate_counter_window_end")]

    def __str__(self) -> str:
        return f"{self.scope} {self.subject}: {self.count}"
