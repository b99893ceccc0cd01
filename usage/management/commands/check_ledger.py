"""check_ledger: every balance must equal the sum of its ledger entries; exits non-zero when one does not."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from usage.models import Balance
from usage.money import credits
from usage.selectors import ledger_mismatches


class Command(BaseCommand):
    help = "Compare each balance with the sum of its ledger entries; fail listing the users where they differ."

    def handle(self, *args: Any, **options: Any) -> None:
        mismatches = ledger_mismatches()
        if not mismatches:
            self.stdout.write(self.style.SUCCESS(f"ledger OK: {Balance.objects.count()} balances checked"))
            return
        user_model = get_user_model()
        names = dict(
            user_model._default_manager.filter(pk__in=[user_id for user_id, _, _ in mismatches]).values_list(
                "pk", user_model.USERNAME_FIELD
            )
        )
        for user_id, balance, total in mismatches:
            username = names.get(user_id, f"<user {user_id}>")
            # Quantized because backends differ in how many places a SUM comes back with.
            balance, total = credits(balance), credits(total)
            self.stdout.write(f"{username}: balance {balance}, ledger sum {total}, off by {balance - total}")
        raise CommandError(f"ledger mismatch for {len(mismatches)} user(s)")
