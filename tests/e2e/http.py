"""Plain HTTP clients for end-to-end tests: real requests, run in parallel threads."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tests.sse import Event, parse_sse


@dataclass
class StreamResult:
    status: int
    events: list[Event]

    @property
    def codes(self) -> list[str]:
        return [event.data.get("code") for event in self.events if event.name == "assistant_error"]


def post_stream(url: str, body: dict[str, Any], headers: dict[str, str], timeout: float = 60) -> StreamResult:
    """POST and read the whole event stream (or the error body)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **headers}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return StreamResult(response.status, parse_sse(response.read()))
    except urllib.error.HTTPError as error:
        return StreamResult(error.code, parse_sse(error.read()))


def parallel(calls: list[Any], workers: int | None = None) -> list[Any]:
    """Run callables at the same time (one thread each) and return their results in order."""
    with ThreadPoolExecutor(max_workers=workers or len(calls)) as pool:
        futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def read_then_leave(
    url: str, body: dict[str, Any], headers: dict[str, str], deltas: int, counted: str = "assistant_delta"
) -> list[Event]:
    """POST a send, read events until ``deltas`` events named ``counted`` arrived, then drop the connection like a
    closed tab."""
    import http.client
    from urllib.parse import urlparse

    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    connection.request("POST", parsed.path, json.dumps(body), {"Content-Type": "application/json", **headers})
    response = connection.getresponse()
    assert response.status == 200, response.read()
    events: list[Event] = []
    block = b""
    while sum(event.name == counted for event in events) < deltas:
        line = response.fp.readline()
        block += line
        if line == b"\n":
            events.extend(parse_sse(block))
            block = b""
    connection.sock.close()  # type: ignore[union-attr]
    connection.close()
    return events
