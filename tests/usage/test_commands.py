"""The usage management commands: reset_anon_usage, grant_credits and check_ledger."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from usage.models import AnonUsage, Balance, IpUsage, LedgerEntry
from usage.services import balance_grant

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def counters() -> None:
    """Two guests behind one address, one elsewhere whose window started two days ago."""
    old = timezone.now() - timedelta(hours=48)
    AnonUsage.objects.create(anon_id="guest-a", used=5, last_ip="10.0.0.1")
    AnonUsage.objects.create(anon_id="guest-b", used=3, last_ip="10.0.0.1")
    AnonUsage.objects.create(anon_id="guest-c", used=7, last_ip="10.0.0.2")
    AnonUsage.objects.filter(pk="guest-c").update(window_start=old)
    IpUsage.objects.create(ip="10.0.0.1", used=8)
    IpUsage.objects.create(ip="10.0.0.2", used=7)
    IpUsage.objects.filter(pk="10.0.0.2").update(window_start=old)


def anon_used() -> dict[str, int]:
    return dict(AnonUsage.objects.values_list("anon_id", "used"))


def ip_used() -> dict[str, int]:
    return dict(IpUsage.objects.values_list("ip", "used"))


# reset_anon_usage


def test_reset_all_zeroes_every_anonymous_and_ip_counter(counters: None) -> None:
    before = timezone.now()

    output = run("reset_anon_usage", "--all")

    assert anon_used() == {"guest-a": 0, "guest-b": 0, "guest-c": 0}
    assert ip_used() == {"10.0.0.1": 0, "10.0.0.2": 0}
    assert all(start >= before for start in AnonUsage.objects.values_list("window_start", flat=True))
    assert all(start >= before for start in IpUsage.objects.values_list("window_start", flat=True))
    assert "reset 3 anonymous id row(s) and 2 IP row(s)" in output


def test_reset_by_anon_id_zeroes_only_that_id(counters: None) -> None:
    output = run("reset_anon_usage", "--anon-id", "guest-b")

    assert anon_used() == {"guest-a": 5, "guest-b": 0, "guest-c": 7}
    assert ip_used() == {"10.0.0.1": 8, "10.0.0.2": 7}
    assert AnonUsage.objects.get(pk="guest-b").window_start > timezone.now() - timedelta(minutes=1)
    assert "reset 1 anonymous id row(s) and 0 IP row(s)" in output


def test_reset_by_ip_zeroes_the_ids_last_seen_there_and_the_ip_itself(counters: None) -> None:
    output = run("reset_anon_usage", "--ip", "10.0.0.1")

    assert anon_used() == {"guest-a": 0, "guest-b": 0, "guest-c": 7}
    assert ip_used() == {"10.0.0.1": 0, "10.0.0.2": 7}
    assert "reset 2 anonymous id row(s) and 1 IP row(s)" in output


def test_reset_older_than_zeroes_only_windows_that_started_before_then(counters: None) -> None:
    output = run("reset_anon_usage", "--older-than", "24")

    assert anon_used() == {"guest-a": 5, "guest-b": 3, "guest-c": 0}
    assert ip_used() == {"10.0.0.1": 8, "10.0.0.2": 0}
    assert AnonUsage.objects.get(pk="guest-c").window_start > timezone.now() - timedelta(minutes=1)
    assert "reset 1 anonymous id row(s) and 1 IP row(s)" in output


def test_a_dry_run_shows_what_would_be_reset_and_changes_nothing(counters: None) -> None:
    starts = dict(AnonUsage.objects.values_list("anon_id", "window_start"))

    output = run("reset_anon_usage", "--ip", "10.0.0.1", "--dry-run")

    assert anon_used() == {"guest-a": 5, "guest-b": 3, "guest-c": 7}
    assert ip_used() == {"10.0.0.1": 8, "10.0.0.2": 7}
    assert dict(AnonUsage.objects.values_list("anon_id", "window_start")) == starts
    assert "would reset anon guest-a (used 5" in output
    assert "would reset anon guest-b (used 3" in output
    assert "would reset ip 10.0.0.1 (used 8" in output
    assert "guest-c" not in output
    assert "would reset 2 anonymous id row(s) and 1 IP row(s)" in output


def test_a_dry_run_of_all_changes_nothing(counters: None) -> None:
    output = run("reset_anon_usage", "--all", "--dry-run")

    assert anon_used() == {"guest-a": 5, "guest-b": 3, "guest-c": 7}
    assert ip_used() == {"10.0.0.1": 8, "10.0.0.2": 7}
    assert "would reset 3 anonymous id row(s) and 2 IP row(s)" in output


def test_reset_needs_one_selector(counters: None) -> None:
    with pytest.raises(CommandError, match="one of the arguments"):
        run("reset_anon_usage")
    assert anon_used()["guest-a"] == 5


def test_reset_refuses_two_selectors(counters: None) -> None:
    with pytest.raises(CommandError, match="not allowed with argument"):
        run("reset_anon_usage", "--all", "--anon-id", "guest-a")
    assert anon_used()["guest-a"] == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--older-than", "soon"), "is not a number of hours"),
        (("--older-than", "-1"), "is not a number of hours"),
        (("--ip", "10.0.0"), "is not an IP address"),
    ],
)
def test_reset_refuses_a_malformed_selector_value(counters: None, args: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("reset_anon_usage", *args)
    assert anon_used() == {"guest-a": 5, "guest-b": 3, "guest-c": 7}


def test_reset_takes_keyword_options_from_call_command(counters: None) -> None:
    call_command("reset_anon_usage", older_than=24, stdout=io.StringIO())

    assert anon_used()["guest-c"] == 0


# grant_credits


def balance_of(user: Any) -> Decimal:
    return Balance.objects.get(user=user).balance


def test_grant_adds_credit_with_a_ledger_entry_and_prints_the_new_balance(user: Any) -> None:
    output = run("grant_credits", "alice", "2.25", "--note", "support ticket 12")

    assert balance_of(user) == Decimal("2.75")
    entry = LedgerEntry.objects.filter(user=user).latest("created_at")
    assert (entry.kind, entry.amount, entry.note) == ("grant", Decimal("2.25"), "support ticket 12")
    assert "balance is now 2.750000" in output


def test_grant_without_a_note_records_that_the_command_granted_it(user: Any) -> None:
    run("grant_credits", "alice", "1")

    assert LedgerEntry.objects.filter(user=user, kind="grant", note="granted by command").exists()


def test_grant_to_an_unknown_user_is_refused(user: Any) -> None:
    with pytest.raises(CommandError, match="no user named 'bob'"):
        run("grant_credits", "bob", "1")
    assert LedgerEntry.objects.count() == 1


@pytest.mark.parametrize("amount", ["lots", "0", "-1", "0.0000001", "NaN", "Infinity"])
def test_grant_of_a_non_numeric_or_non_positive_amount_is_refused(user: Any, amount: str) -> None:
    with pytest.raises(CommandError, match="amount"):
        run("grant_credits", "alice", amount)
    assert balance_of(user) == Decimal("0.5")
    assert LedgerEntry.objects.filter(user=user).count() == 1


def test_grant_to_a_user_without_a_balance_row_opens_one() -> None:
    account = get_user_model().objects.create_user(username="bob", password="x")

    run("grant_credits", "bob", "3")

    assert balance_of(account) == Decimal("3")


# check_ledger


def test_check_ledger_passes_when_every_balance_matches_its_ledger(user: Any) -> None:
    balance_grant(user_id=user.pk, amount=Decimal("1.5"))

    output = run("check_ledger")

    assert "ledger OK: 1 balances checked" in output


def test_check_ledger_fails_naming_a_balance_changed_behind_the_ledger(user: Any) -> None:
    Balance.objects.filter(user=user).update(balance=Decimal("7"))
    out = io.StringIO()

    with pytest.raises(CommandError, match="ledger mismatch for 1 user"):
        call_command("check_ledger", stdout=out)

    assert "alice: balance 7.000000, ledger sum 0.500000" in out.getvalue()


def test_check_ledger_exits_non_zero_from_the_command_line(user: Any) -> None:
    Balance.objects.filter(user=user).update(balance=Decimal("7"))

    with pytest.raises(SystemExit) as exited:
        from django.core.management import ManagementUtility

        ManagementUtility(["manage.py", "check_ledger"]).execute()

    assert exited.value.code != 0
