"""The operator endpoints and the JSON error pages."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


# The check runs through database_sync_to_async, which closes a connection left inside a test transaction.
@pytest.mark.django_db(transaction=True)
def test_health_reports_ok_when_the_database_answers(client: Client) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    if settings.REDIS_URL:
        assert body["checks"]["redis"] == "ok"
    else:
        assert "redis" not in body["checks"]


def test_metrics_exposes_the_running_generations_gauge(client: Client) -> None:
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE chatsite_generations_running gauge" in text
    assert "chatsite_generations_running 0" in text
    assert "chatsite_stream_events_total" in text


@override_settings(DEBUG=False)
def test_an_unknown_url_answers_a_json_not_found(client: Client) -> None:
    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "NOT_FOUND"


@override_settings(DEBUG=False)
def test_an_unknown_api_url_answers_a_json_not_found(client: Client) -> None:
    response = client.post("/api/v1/auth/nothing", data="{}", content_type="application/json")

    assert response.status_code == 404
    assert response.json() == {"code": "NOT_FOUND", "error": "Not found."}


def test_live_answers_without_looking_at_any_dependency(client: Client) -> None:
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db(transaction=True)
def test_ready_is_healthy_like_health_while_the_process_is_not_draining(client: Client) -> None:
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_ready_is_503_while_the_process_drains_and_live_stays_200(client: Client) -> None:
    from chatsite import lifecycle

    lifecycle.drain_begin()
    try:
        ready, live = client.get("/health/ready"), client.get("/health/live")
    finally:
        lifecycle._State.draining = False

    assert ready.status_code == 503
    assert ready.json() == {"status": "draining", "checks": {}}
    assert live.status_code == 200
