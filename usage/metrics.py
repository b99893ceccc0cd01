"""This app's metrics, in the process's registry (served at ``/metrics``).

The open reservations are a fact of the database that every worker shares, not of one process: each worker
reads them with one query per scrape (off the event loop, chatsite/metrics.py) and so reports the same value.
"""

from __future__ import annotations

import math

from django.utils import timezone
from prometheus_client import Gauge, Histogram

from chatsite.metrics import metrics_read_before_scrape
from chatsite.outages import DATABASE_OUTAGE_ERRORS, database_health, database_unavailable
from usage.selectors import reservations_open_summary

SEND_ADMISSION = Histogram(
    "chatsite_send_admission_seconds",
    "Admitting a send, regenerate or edit: checking it and taking its quota (accepted or refused).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RESERVATIONS_OPEN = Gauge(
    "chatsite_reservations_open", "Open credit reservations in the database (the same on every worker)."
)
RESERVATION_OLDEST_AGE = Gauge(
    "chatsite_reservation_oldest_age_seconds",
    "Age of the oldest open credit reservation in the database (0 when none is open; the same on every worker).",
)


def _reservations_now() -> tuple[float, float]:
    """How many reservations are open and the age of the oldest in seconds; NaN for both while the database is
    unreachable (the scrape still answers with everything else)."""
    if database_health.down:
        return math.nan, math.nan
    try:
        count, oldest = reservations_open_summary()
    except DATABASE_OUTAGE_ERRORS as error:
        database_unavailable(error, "reading metrics")
        return math.nan, math.nan
    age = max((timezone.now() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return float(count), age


@metrics_read_before_scrape
def reservations_measure() -> None:
    count, age = _reservations_now()
    RESERVATIONS_OPEN.set(count)
    RESERVATION_OLDEST_AGE.set(age)
