"""The usage admin: resetting free-message counters, granting credits, the user page with its ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from usage.models import AnonUsage, Balance, LedgerEntry

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client() -> Client:
    superuser = get_user_model().objects.create_superuser(username="root", password="x", email="root@example.com")
    client = Client()
    client.force_login(superuser)
    return client


def test_the_reset_usage_action_zeroes_the_selected_anonymous_counters(admin_client: Client) -> None:
    AnonUsage.objects.create(anon_id="guest-a", used=6)
    AnonUsage.objects.create(anon_id="guest-b", used=4)

    response = admin_client.post(
        "/admin/usage/anonusage/", {"action": "reset_usage", "_selected_action": ["guest-a"]}, follow=True
    )

    assert response.status_code == 200
    assert dict(AnonUsage.objects.values_list("anon_id", "used")) == {"guest-a": 0, "guest-b": 4}
    assert "Reset 1 row(s)." in response.content.decode()


def test_the_grant_credits_action_first_asks_for_the_amount(admin_client: Client, user: Any) -> None:
    response = admin_client.post("/admin/usage/balance/", {"action": "grant_credits", "_selected_action": [user.pk]})

    assert response.status_code == 200
    assert "Grant credits" in response.content.decode()
    assert Balance.objects.get(user=user).balance == Decimal("0.5")


def test_the_grant_credits_action_grants_the_amount_with_a_ledger_entry(admin_client: Client, user: Any) -> None:
    response = admin_client.post(
        "/admin/usage/balance/",
        {"action": "grant_credits", "_selected_action": [user.pk], "amount": "2.5", "note": "x"},
    )

    assert response.status_code == 302
    assert Balance.objects.get(user=user).balance == Decimal("3")
    assert LedgerEntry.objects.filter(user=user, kind="grant", amount=Decimal("2.5"), note="x").exists()


def test_the_grant_credits_action_asks_again_for_a_non_positive_amount(admin_client: Client, user: Any) -> None:
    response = admin_client.post(
        "/admin/usage/balance/", {"action": "grant_credits", "_selected_action": [user.pk], "amount": "0"}
    )

    assert response.status_code == 200
    assert "Grant credits" in response.content.decode()
    assert Balance.objects.get(user=user).balance == Decimal("0.5")


def test_the_user_page_shows_the_balance_and_ledger(admin_client: Client, user: Any) -> None:
    response = admin_client.get(f"/admin/auth/user/{user.pk}/change/")

    assert response.status_code == 200
    assert "welcome credit" in response.content.decode()
