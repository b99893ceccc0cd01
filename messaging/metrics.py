"""This app's metrics, in the process's registry (served at ``/metrics``). Every value is this process's own:
scrape each worker (docs/operations.md, "Metrics").

Nothing here runs per token except ``DeltaPace.delta`` and the plain integer of ``StreamEvents``: a
``prometheus_client`` metric takes a lock on every update, which on the token path is a measurable share of the
work, so the token path updates plain attributes and observes a histogram for one delta in ``GAP_SAMPLE`` only.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

REDIS_STREAM_WRITES = Counter(
    "chatsite_redis_stream_writes", "Batches of stream events written to the Redis logs by this process."
)
GENERATIONS_RUNNING = Gauge("chatsite_generations_running", "Generations running in this process.")
SSE_READERS = Gauge("chatsite_sse_readers", "Server-sent event responses this process is streaming now.")

TIME_TO_FIRST_TOKEN = Histogram(
    "chatsite_time_to_first_token_seconds",
    "From a send (regenerate, edit) being admitted to its first delta (text or reasoning) being emitted.",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 60),
)
TOKEN_GAP = Histogram(
    "chatsite_token_gap_seconds",
    "Time between two consecutive deltas a generation emits to its readers (one gap in 8 is observed).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
GENERATION_SECONDS = Histogram(
    "chatsite_generation_seconds",
    "From a send being admitted to its answer being stored and settled, whatever the outcome.",
    buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
GENERATIONS = Counter(
    "chatsite_generations",
    "Generations ended, by outcome (complete, stopped, failed) and, for a failure, its error code.",
    ["outcome", "code"],
)
SENDS_REFUSED = Counter(
    "chatsite_sends_refused", "Sends, regenerates and edits refused with an error code, by code.", ["code"]
)
UPSTREAM_ERRORS = Counter(
    "chatsite_upstream_errors", "Generations whose model provider failed them, by error code.", ["code"]
)
TOKENS = Counter(
    "chatsite_tokens",
    "Tokens of ended generations as settled (the provider's usage, or an estimate), by model and direction.",
    ["model", "direction"],
)
CREDITS_CHARGED = Counter("chatsite_credits_charged", "Credits charged to users' balances, by model.", ["model"])

# One delta gap in GAP_SAMPLE is observed (a power of two: the test is a bit mask).
GAP_SAMPLE = 8
_GAP_MASK = GAP_SAMPLE - 1


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


class DeltaPace:
    """The timing of one generation's deltas, fed once per delta with the loop time the caller already has:
    the first delta observes the time to first token, and every ``GAP_SAMPLE``-th the gap since the one
    before it. Runs on the event loop only, so plain attributes need no lock."""

    __slots__ = ("accepted", "count", "last")

    def __init__(self, accepted: float) -> None:
        self.accepted = accepted
        self.count = 0
        self.last = accepted

    def delta(self, now: float) -> None:
        self.count += 1
        if not self.count & _GAP_MASK:
            TOKEN_GAP.observe(now - self.last)
        elif self.count == 1:
            TIME_TO_FIRST_TOKEN.observe(now - self.accepted)
        self.last = now


def generation_counted(
    *, model: str, status: str, error_code: str, seconds: float, tokens: tuple[int, int], charged: Decimal
) -> None:
    """One generation ended and settled: its outcome, its duration, its tokens (prompt, completion) and what it
    charged."""
    GENERATIONS.labels(outcome=status, code=error_code).inc()
    GENERATION_SECONDS.observe(seconds)
    prompt, completion = tokens
    TOKENS.labels(model=model, direction="prompt").inc(prompt)
    TOKENS.labels(model=model, direction="completion").inc(completion)
    if charged > 0:
        CREDITS_CHARGED.labels(model=model).inc(float(charged))
