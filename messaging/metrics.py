"""This app's metrics, in the process's registry (served at ``/metrics``)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

REDIS_STREAM_WRITES = Counter(
    "chatsite_redis_stream_writes", "Batches of stream events written to the Redis logs by this process."
)
GENERATIONS_RUNNING = Gauge("chatsite_generations_running", "Generations running in this process.")


class StreamEvents(Collector):
    """Events emitted by this process's generations: counted with a plain integer, because a counter with its
    lock on every token is a measurable share of the per-token work, and read only when scraped."""

    count = 0

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "chatsite_stream_events", "Events emitted by the generations of this process.", value=self.count
        )


STREAM_EVENTS = StreamEvents()
REGISTRY.register(STREAM_EVENTS)
