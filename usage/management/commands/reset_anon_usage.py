"""reset_anon_usage: give anonymous ids (and IPs) their free messages back."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from usage.anon_reset import AnonUsageSelection, anon_usage_reset, anon_usage_selected


def _hours(value: Any) -> timedelta:
    try:
        hours = Decimal(str(value))
    except InvalidOperation:
        raise CommandError(f"--older-than: {value!r} is not a number of hours") from None
    if not hours.is_finite() or hours < 0:
        raise CommandError(f"--older-than: {value!r} is not a number of hours")
    try:
        age = timedelta(hours=float(hours))
        timezone.now() - age  # the cutoff must be a date the database can hold
    except OverflowError:
        raise CommandError(f"--older-than: {value!r} hours reaches before year 1") from None
    return age


def _ip(value: Any) -> str:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        raise CommandError(f"--ip: {value!r} is not an IP address") from None
    return str(value)


def _selection(options: dict[str, Any]) -> AnonUsageSelection:
    # Values are checked here, not by argparse types: call_command passes keyword options through unconverted.
    if options["older_than"] is not None:
        return AnonUsageSelection(older_than=_hours(options["older_than"]))
    if options["ip"] is not None:
        return AnonUsageSelection(ip=_ip(options["ip"]))
    if options["anon_id"] is not None:
        return AnonUsageSelection(anon_id=str(options["anon_id"]))
    return AnonUsageSelection(everything=True)


class Command(BaseCommand):
    help = "Reset the free-message counters of anonymous ids and IPs: used to 0, window starting now."

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--all", action="store_true", help="Every anonymous id and every IP.")
        which.add_argument("--anon-id", metavar="ID", help="One anonymous id.")
        which.add_argument("--ip", metavar="IP", help="The anonymous ids last seen from IP, and IP itself.")
        which.add_argument("--older-than", metavar="HOURS", help="Counters whose window started over HOURS ago.")
        parser.add_argument("--dry-run", action="store_true", help="Show what would be reset; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        selection = _selection(options)
        if options["dry_run"]:
            anon, ips = anon_usage_selected(selection=selection)
            for row in anon.order_by("pk"):
                self.stdout.write(
                    f"would reset anon {row.anon_id} (used {row.used}, since {row.window_start:%Y-%m-%d %H:%M})"
                )
            for ip_row in ips.order_by("pk"):
                self.stdout.write(
                    f"would reset ip {ip_row.ip} (used {ip_row.used}, since {ip_row.window_start:%Y-%m-%d %H:%M})"
                )
            self.stdout.write(f"dry run: would reset {anon.count()} anonymous id row(s) and {ips.count()} IP row(s)")
            return
        count = anon_usage_reset(selection=selection)
        self.stdout.write(self.style.SUCCESS(f"reset {count.anon} anonymous id row(s) and {count.ip} IP row(s)"))
