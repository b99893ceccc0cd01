"""prune_rate_counters: delete the rate-limit counters whose window has ended (run it from cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from usage.rate_limits import rate_counters_prune


class Command(BaseCommand):
    help = "Delete the sign-up and sign-in rate-limit counters whose window has ended; print how many."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{rate_counters_prune()} ended rate-limit counter(s) deleted")
