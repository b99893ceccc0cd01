"""Hostile input from real clients to a real server: bodies too large (declared or chunked), and hostile socket
payloads from a stock socket.io-client and a `ws` client, each answered with a code."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import run_node

pytestmark = pytest.mark.e2e
GUEST = "hostile-client-01"
BIG = json.dumps({"content": "x" * (5 * 1024 * 1024), "username": "x", "password": "x"}).encode()


def _post(url: str, path: str, body: bytes, *, chunked: bool) -> tuple[int, dict[str, Any]]:
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    headers = {"Content-Type": "application/json", "x-anon-id": GUEST}
    if chunked:
        connection.request("POST", path, iter([body[i : i + 65536] for i in range(0, len(body), 65536)]),
                           headers, encode_chunked=True)  # fmt: skip
    else:
        connection.request("POST", path, body, headers)
    response = connection.getresponse()
    status, content = response.status, response.read()
    connection.close()
    return status, json.loads(content)


def test_hostile_input_from_real_clients_gets_coded_answers(servers: Any) -> None:
    server = servers()

    for path in ("/api/v1/messages/send", "/api/v1/auth/register"):
        for chunked in (False, True):
            status, body = _post(server.url, path, BIG, chunked=chunked)
            assert (status, body["code"]) == (413, "PAYLOAD_TOO_LARGE"), (path, chunked, body)
    result = run_node("socket_hostile.mjs", server.url, GUEST)

    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    codes = [ack["data"].get("code") for ack in answers["sio"]["acks"]]
    assert codes == ["VALIDATION_ERROR"] * 3 + ["PAYLOAD_TOO_LARGE", "VALIDATION_ERROR", "VALIDATION_ERROR", None, None]
    assert answers["sio"]["connected"]
    frames = answers["ws"]["frames"]
    assert [frame["data"].get("code") for frame in frames] == [
        "VALIDATION_ERROR", "VALIDATION_ERROR", "VALIDATION_ERROR", "PAYLOAD_TOO_LARGE", None
    ]  # fmt: skip
    assert frames[-1]["event"] == "pong"
    assert answers["ws"]["closed"] is None
