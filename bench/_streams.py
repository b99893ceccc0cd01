"""Cheap stream readers for the capacity benchmark: they look for stamps in the bytes, never parse an event.

The client shares the machine's cores with the server and the fake upstream, so every microsecond it spends
per token is taken from them. A reader here takes what the socket has (``iter_any``), cuts it at the last
complete line and finds the stamps with one regular expression over those bytes: no JSON, no SSE parser per
token. A delta that carries several tokens (a server that coalesces them) is several stamps, space-separated,
all arriving at once.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from _common import p99_by_second, percentile

DIRECT_STAMP = re.compile(rb'"content": ?" ?(\d+)"')  # one token per chunk of the fake's own stream
SERVER_STAMPS = re.compile(rb'"delta": ?"([\d ]+)"')  # the delta of assistant_delta: one or more stamps
CHAT_ID = re.compile(rb'"chat_id": ?"([0-9a-fA-F-]{8,})"')
COMPLETE, FAILED, DONE = b"event: assistant_complete", b"event: assistant_error", b"data: [DONE]"
PERCENTILES = (50, 90, 99)


@dataclass
class Latencies:
    """The tokens of one phase: for each, arrival in this client minus the stamp the fake wrote."""

    name: str
    latencies_ns: list[int] = field(default_factory=list)
    arrivals_ns: list[int] = field(default_factory=list)  # when each token arrived (time.time_ns())
    first_token_ms: list[float] = field(default_factory=list)  # from each request to its first token
    deltas: int = 0  # events (or chunks) that carried the tokens: fewer than the tokens when coalesced
    streams_ok: int = 0
    errors: list[str] = field(default_factory=list)

    def stats(self) -> dict[str, Any]:
        values = sorted(self.latencies_ns) or [0]
        first = sorted(int(ms * 1e6) for ms in self.first_token_ms)
        out: dict[str, Any] = {f"p{p}_ms": round(percentile(values, p), 3) for p in PERCENTILES}
        out["max_ms"] = round(values[-1] / 1e6, 3)
        out["first_token_ms"] = {
            "p50": round(percentile(first, 50), 1) if first else None,
            "p99": round(percentile(first, 99), 1) if first else None,
            "max": round(first[-1] / 1e6, 1) if first else None,
        }
        out.update(tokens=len(self.latencies_ns), deltas=self.deltas, streams_ok=self.streams_ok)
        out["errors"] = len(self.errors)
        out["error_samples"] = self.errors[:5]
        out["p99_ms_by_second"] = p99_by_second(self.arrivals_ns, self.latencies_ns)
        return out


def added(server: dict[str, Any], direct: dict[str, Any]) -> dict[str, float]:
    """The latency the server adds: through it minus straight from the fake, percentile by percentile."""
    return {key: round(server[key] - direct[key], 3) for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms")}


def median_or_none(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


@dataclass
class Reading:
    """What one stream brought: how many stamps, whether it ended properly, the chat it belongs to."""

    tokens: int = 0
    complete: bool = False
    failed: bool = False
    chat_id: str | None = None


async def _read(
    response: aiohttp.ClientResponse, pattern: re.Pattern[bytes], sink: Latencies | None, sent_ns: int
) -> Reading:
    reading, tail = Reading(), b""
    async for chunk in response.content.iter_any():
        arrived = time.time_ns()
        data = tail + chunk
        cut = data.rfind(b"\n") + 1
        data, tail = data[:cut], data[cut:]
        if sink is not None:
            for match in pattern.finditer(data):
                sink.deltas += 1
                for stamp in match.group(1).split():
                    if not reading.tokens:
                        sink.first_token_ms.append((arrived - sent_ns) / 1e6)
                    sink.latencies_ns.append(arrived - int(stamp))
                    sink.arrivals_ns.append(arrived)
                    reading.tokens += 1
        if reading.chat_id is None and (found := CHAT_ID.search(data)):
            reading.chat_id = found.group(1).decode()
        reading.complete = reading.complete or COMPLETE in data or DONE in data
        reading.failed = reading.failed or FAILED in data
    return reading


async def read_direct(session: aiohttp.ClientSession, url: str, model: str, tokens: int, sink: Latencies) -> None:
    """One completion straight from the fake upstream."""
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    sent = time.time_ns()
    try:
        async with session.post(f"{url}/chat/completions", json=body) as response:
            if response.status != 200:
                sink.errors.append(f"direct: HTTP {response.status}")
                return
            reading = await _read(response, DIRECT_STAMP, sink, sent)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        sink.errors.append(f"direct: {type(exc).__name__}: {exc}")
        return
    if reading.tokens == tokens and reading.complete:
        sink.streams_ok += 1
    else:
        sink.errors.append(f"direct: {reading.tokens} of {tokens} tokens, complete={reading.complete}")


async def send(
    session: aiohttp.ClientSession,
    url: str,
    anon_id: str,
    body: dict[str, Any],
    errors: list[str],
    sink: Latencies | None = None,
    tokens: int | None = None,
) -> str | None:
    """One ``POST /api/v1/messages/send`` read to its end; the chat id of a complete answer, else None.
    With ``sink``, every delta is a stamp recorded there, and ``tokens`` of them are expected."""
    headers = {"x-anon-id": anon_id, "Accept": "text/event-stream"}
    sent = time.time_ns()
    try:
        async with session.post(f"{url}/api/v1/messages/send", json=body, headers=headers) as response:
            if response.status != 200:
                text = " ".join((await response.text()).split())
                errors.append(f"send: HTTP {response.status}: {text[:200]}")
                return None
            reading = await _read(response, SERVER_STAMPS, sink, sent)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        errors.append(f"send: {type(exc).__name__}: {exc}")
        return None
    if reading.failed or not reading.complete:
        errors.append(f"send: the stream ended {'with assistant_error' if reading.failed else 'unfinished'}")
        return None
    if tokens is not None and reading.tokens != tokens:
        errors.append(f"send: {reading.tokens} of {tokens} tokens")
        return None
    if sink is not None:
        sink.streams_ok += 1
    return reading.chat_id
