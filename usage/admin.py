from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from chatsite.errors import ApiError
from usage.models import AnonUsage, Balance, IpUsage, LedgerEntry, RateCounter, Reservation
from usage.services import balance_grant


@admin.action(description="Reset the free-message count")
def reset_usage(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> None:
    count = queryset.update(used=0, window_start=timezone.now())
    modeladmin.message_user(request, f"Reset {count} row(s).")


@admin.register(AnonUsage)
class AnonUsageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("anon_id", "used", "window_start", "last_ip", "last_seen", "claimed_by")
    list_filter = ("window_start",)
    search_fields = ("anon_id", "last_ip")
    actions = [reset_usage]


@admin.register(RateCounter)
class RateCounterAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Deleting a row lifts that throttle at once (a user locked out by someone guessing their password)."""

    list_display = ("scope", "subject", "count", "window_end")
    list_filter = ("scope",)
    search_fields = ("subject",)


@admin.register(IpUsage)
class IpUsageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("ip", "used", "window_start")
    search_fields = ("ip",)
    actions = [reset_usage]


class LedgerInline(admin.TabularInline):  # type: ignore[type-arg]
    model = LedgerEntry
    fk_name = "user"
    fields = ("created_at", "kind", "amount", "balance_after", "message", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-created_at",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class GrantForm(forms.Form):
    amount = forms.DecimalField(max_digits=18, decimal_places=6, min_value=Decimal("0.000001"))
    note = forms.CharField(max_length=200, required=False)


@admin.action(description="Grant credits to the selected users")
def grant_credits(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Balance]) -> HttpResponse | None:
    """Asks for the amount on an intermediate page, then grants it with a ledger entry per user."""
    form = GrantForm(request.POST if "amount" in request.POST else None)
    if form.is_valid():
        note = form.cleaned_data["note"] or f"admin grant by {request.user}"
        try:
            with transaction.atomic():  # all selected users get it, or none does
                for balance in queryset:
                    balance_grant(user_id=balance.user_id, amount=form.cleaned_data["amount"], note=note)
        except ApiError as error:
            modeladmin.message_user(request, error.message, level=messages.ERROR)
            return None
        modeladmin.message_user(request, f"Granted {form.cleaned_data['amount']} to {queryset.count()} user(s).")
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "form": form,
        "queryset": queryset,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "title": "Grant credits",
    }
    return TemplateResponse(request, "admin/usage/grant_credits.html", context)


@admin.register(Balance)
class BalanceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "balance", "reserved", "updated_at")
    search_fields = ("user__username", "user__email")
    readonly_fields = ("user", "balance", "reserved", "updated_at")
    actions = [grant_credits]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class BalanceInline(admin.StackedInline):  # type: ignore[type-arg]
    model = Balance
    fields = ("balance", "reserved")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class UserWithLedgerAdmin(UserAdmin):  # type: ignore[type-arg]
    """The stock user admin, with the user's balance and ledger (both read-only) on the user's page."""

    inlines = [BalanceInline, LedgerInline]


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), UserWithLedgerAdmin)


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "user", "amount", "charged", "status", "message", "created_at", "closed_at")
    list_filter = ("status",)
    search_fields = ("user__username", "message__id")
    raw_id_fields = ("user", "message")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("created_at", "user", "kind", "amount", "balance_after", "message", "note")
    list_filter = ("kind",)
    search_fields = ("user__username", "note", "message__id")
    raw_id_fields = ("user", "message")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
