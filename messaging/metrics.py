"""This app's metrics, in the process's registry (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

STREAM_EVENTS = Counter("chatsite_stream_events", "Events emitted by the generations of this process.")
REDIS_STREAM_WRITES = Counter(
    "chatsite_redis_stream_writes", "Batches of stream events written to the Redis logs by this process."
)
GENERATIONS_RUNNING = Gauge("chatsite_generations_running", "Generations running in this process.")
