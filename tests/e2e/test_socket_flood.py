"""One client flooding a management socket neither stalls other users nor gets its flood handled: it is refused
with RATE_LIMITED while other users' requests are answered, and a socket that keeps on is closed."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import run_node

pytestmark = pytest.mark.e2e
NODE_DIR = Path(__file__).resolve().parent
FLOODER, OTHER = "flooding-guest-01", "patient-guest-01"
PROBES = 20


class Flood:
    """tests/e2e/socket_flood.mjs: a guest sending events on one socket as fast as the connection takes them."""

    def __init__(self, url: str, transport: str, anon_id: str = FLOODER) -> None:
        node = shutil.which("node")
        assert node
        self.process = subprocess.Popen(
            [node, str(NODE_DIR / "socket_flood.mjs"), url, transport, anon_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def next(self, timeout: float = 60) -> dict[str, Any]:
        return self.lines.get(timeout=timeout)

    def stop(self) -> dict[str, Any]:
        """Stop flooding; the flood's summary."""
        assert self.process.stdin
        self.process.stdin.close()
        while (line := self.next())["event"] != "summary":
            pass
        self.process.wait(10)
        return dict(line["data"])


def test_a_flood_on_one_socket_is_refused_while_other_users_are_answered(servers: Any) -> None:
    # A rate any machine can refuse at (the other user's 20 requests are one burst), and no closing for abuse,
    # so that the flood goes on for as long as the other user is asking.
    server = servers(SOCKET_RATE_PER_SECOND="5", SOCKET_RATE_BURST=str(PROBES), SOCKET_RATE_DISCONNECT_AFTER="0")
    for transport in ("sio", "ws"):
        flood = Flood(server.url, transport)
        assert flood.next()["event"] == "flooding", transport

        probe = run_node("socket_probe.mjs", server.url, OTHER, str(PROBES), timeout=90)
        summary = flood.stop()

        assert probe.returncode == 0, probe.stderr
        answered = json.loads(probe.stdout)
        assert {kind: answered[kind]["answered"] for kind in ("sio", "ws")} == {"sio": PROBES, "ws": PROBES}, transport
        assert not summary["capped"], f"{transport}: the flood ended before the other user was answered"
        assert summary["closed"] is None, summary
        assert summary["refused"] > 0, summary
        assert summary["retry_after_ms"] > 0, summary


@pytest.mark.parametrize(("transport", "closed"), [("sio", "io server disconnect"), ("ws", 4429)])
def test_a_socket_that_keeps_flooding_is_closed(servers: Any, transport: str, closed: str | int) -> None:
    server = servers(SOCKET_RATE_BURST="5", SOCKET_RATE_DISCONNECT_AFTER="10")

    summary = _flood_until_closed(server.url, transport)

    assert summary["closed"] == closed
    assert summary["refused"] == 11  # 10 refusals with a retry hint, then the one that closes the socket
    assert not summary["capped"]


def _flood_until_closed(url: str, transport: str) -> dict[str, Any]:
    flood = Flood(url, transport)
    while (line := flood.next())["event"] != "summary":
        pass
    return dict(line["data"])
