"""grant_credits USERNAME AMOUNT: add credit to a user's balance with a ledger entry."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chatsite.errors import ApiError
from usage.admin import GrantForm
from usage.services import balance_grant


class Command(BaseCommand):
    help = "Grant AMOUNT credits to USERNAME, recorded in the ledger, and print the new balance."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("amount", help="A positive number of credits, at most 6 decimal places.")
        parser.add_argument("--note", default="", help="Kept on the ledger entry (default: 'granted by command').")

    def handle(self, *args: Any, **options: Any) -> None:
        # The admin's grant form, so that an amount is valid here exactly when it is valid in the admin.
        form = GrantForm({"amount": str(options["amount"]), "note": options["note"]})
        if not form.is_valid():
            problems = "; ".join(
                f"{field}: {' '.join(str(error) for error in errors)}" for field, errors in form.errors.items()
            )
            raise CommandError(problems)
        username = options["username"]
        user = get_user_model()._default_manager.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        amount = form.cleaned_data["amount"]
        try:
            entry = balance_grant(
                user_id=user.pk, amount=amount, note=form.cleaned_data["note"] or "granted by command"
            )
        except ApiError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(self.style.SUCCESS(f"granted {amount} to {username}: balance is now {entry.balance_after}"))
