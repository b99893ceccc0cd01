"""``/metrics``: its token, and the metrics that only the database knows (read once per scrape)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from tests.scrape import parse, value
from usage.models import Reservation
from usage.services import balance_reserve, reservation_settle

TOKEN = "metrics-token-0123456789"


@override_settings(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "AUTH_REQUIRED"),
        ("Bearer wrong-token-0123456789", "TOKEN_INVALID"),
        (f"Bearer {TOKEN}x", "TOKEN_INVALID"),
        (f"Basic {TOKEN}", "TOKEN_INVALID"),
    ],
)
def test_a_scrape_without_the_metrics_token_is_refused(client: Client, authorization: str | None, code: str) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = client.get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response.json()["code"] == code
    assert response["WWW-Authenticate"] == "Bearer"
    assert b"chatsite_" not in response.content


@pytest.mark.django_db(transaction=True)
@override_settings(METRICS_TOKEN=TOKEN)
def test_a_scrape_with_the_metrics_token_gets_the_metrics(client: Client) -> None:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})

    assert response.status_code == 200
    assert "chatsite_generations_running" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_without_a_metrics_token_the_metrics_are_open(client: Client) -> None:
    assert client.get("/metrics").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_open_reservations_and_the_age_of_the_oldest_are_read_at_each_scrape(client: Client, user: Any) -> None:
    empty = parse(client.get("/metrics").content.decode())
    old = balance_reserve(user_id=user.pk, amount=Decimal("0.1"))
    Reservation.objects.filter(pk=old).update(created_at=timezone.now() - timedelta(seconds=120))
    balance_reserve(user_id=user.pk, amount=Decimal("0.1"))

    holding = parse(client.get("/metrics").content.decode())
    reservation_settle(reservation_id=old, cost=Decimal("0.05"))
    one_left = parse(client.get("/metrics").content.decode())

    assert value(empty, "chatsite_reservations_open") == 0
    assert value(empty, "chatsite_reservation_oldest_age_seconds") == 0
    assert value(holding, "chatsite_reservations_open") == 2
    assert 120 <= value(holding, "chatsite_reservation_oldest_age_seconds") < 180
    assert value(one_left, "chatsite_reservations_open") == 1
    assert value(one_left, "chatsite_reservation_oldest_age_seconds") < 60
