"""Real outages for end-to-end tests: a Redis of the test's own that it kills, pauses and restarts, a TCP proxy
in front of PostgreSQL that it cuts or freezes, and an SSE client whose every read must return within a bound."""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from tests.e2e.servers import free_port
from tests.sse import Event, parse_sse

# The longest a client waits for any byte (an event, a ping or the end) before the test fails: the servers the
# outage tests start ping every half second and never wait on Redis for longer than a second.
READ_TIMEOUT = 6.0
# The longest a whole response may take: pings keep a stream alive, but not for ever.
RESPONSE_TIMEOUT = 40.0


class OwnRedis:
    """A ``redis-server`` on a free port, never the shared one. It keeps its port across a restart."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for the outage tests"
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OwnRedis:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._answers, timeout=10)
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a paused process dies only once it runs again
            self.process.kill()
            self.process.wait(10)

    def pause(self) -> None:
        """SIGSTOP: connections stay open and nothing answers, as with a hung host."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        """A Redis that comes back empty on the same port."""
        self.kill()
        self.start()


class TcpProxy:
    """A TCP forwarder to ``target``: ``cut()`` resets every connection and refuses new ones at once (a database
    that went away), ``freeze()`` keeps them open and forwards nothing (a hung host), ``restore()`` forwards."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.mode = "open"
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.mode == "cut":
                _close(client)
            elif self.mode == "frozen":
                self._track(client)
            else:
                threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        self._track(client, upstream)
        threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _track(self, *sockets: socket.socket) -> None:
        with self.lock:
            self.sockets.update(sockets)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                while self.mode == "frozen":
                    time.sleep(0.05)
                if self.mode == "cut":
                    break
                sink.sendall(data)
        _close(source)
        _close(sink)

    def cut(self) -> None:
        self.mode = "cut"
        with self.lock:
            for sock in self.sockets:
                _close(sock)
            self.sockets.clear()

    def freeze(self) -> None:
        self.mode = "frozen"

    def restore(self) -> None:
        self.cut()  # frozen connections are useless now: drop them, as a restarted host would
        self.mode = "open"

    def close(self) -> None:
        self.cut()
        _close(self.listener)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()


class SseClient:
    """One streaming request, read as a client does; every read must get a byte within ``READ_TIMEOUT`` (else
    ``TimeoutError`` fails the test): a refusal, an event, a ``: ping`` or the end of the response."""

    def __init__(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float = READ_TIMEOUT,
    ) -> None:
        parsed = urlparse(url)
        self.connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        payload = None if body is None else json.dumps(body)
        self.connection.request(method, path, payload, {"Content-Type": "application/json", **(headers or {})})
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.events: list[Event] = []
        self.pings = 0
        self.closed = False
        self.deadline = time.monotonic() + RESPONSE_TIMEOUT

    def next(self) -> Event | None:
        """The next event (counting pings on the way), or ``None`` once the server ended the response."""
        block = b""
        while not self.closed:
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"the response lasted over {RESPONSE_TIMEOUT} s: {[e.name for e in self.events]}")
            line = self.response.readline()
            if not line:
                self.closed = True
                self.connection.close()
            elif line.strip():
                block += line
                continue
            if block.startswith(b":"):
                self.pings += 1
            elif block:
                event = parse_sse(block)[0]
                self.events.append(event)
                return event
            block = b""
        return None

    def read_until(self, done: Callable[[list[Event]], bool]) -> list[Event]:
        while not done(self.events):
            assert self.next() is not None, f"the stream ended early: {[e.name for e in self.events]}"
        return self.events

    def read_to_end(self) -> list[Event]:
        while self.next() is not None:
            pass
        return self.events

    def leave(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.sock.close()  # type: ignore[union-attr]
        self.connection.close()


def request(
    method: str, url: str, headers: dict[str, str] | None = None, body: Any = None, timeout: float = READ_TIMEOUT
) -> tuple[int, Any]:
    """A whole request, read as ``SseClient`` does: (status, JSON body, or the list of events of a stream)."""
    client = SseClient(method, url, body, headers, timeout)
    if client.response.getheader("Content-Type", "").startswith("text/event-stream"):
        return client.status, client.read_to_end()
    raw = client.response.read()
    client.connection.close()
    return client.status, json.loads(raw) if raw else None


def wait_for(predicate: Callable[[], Any], timeout: float = 20, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
