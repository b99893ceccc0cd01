"""How long another user waits for ``list_chats`` while one client floods a management socket.

One run starts a scratch database (temporary SQLite unless ``--database-url``) and one daphne process with the
default rate limit (``SOCKET_RATE_PER_SECOND``, ``SOCKET_RATE_BURST``) and, by default, without closing a flooding
socket (``SOCKET_RATE_DISCONNECT_AFTER=0``, so that one socket floods throughout; ``--disconnect-after 50`` is
the server's default, and the flooder then opens a new socket whenever one is closed). It measures, one
scenario after the other:

- ``quiet``: nobody floods;
- ``flood-sio`` / ``flood-ws``: one guest floods ``list_chats`` on a Socket.IO / ``/ws/chats/`` socket as fast
  as the server answers (``--window`` events unanswered at any time; tests/e2e/socket_flood.mjs).

In each, another guest asks ``list_chats`` ``--count`` times on each socket kind, ``--pace-ms`` apart (under its
own rate limit), and the round trips are summarized (p50, p90, p99, max). The clients are the Node scripts of the
end-to-end tests. Django is never imported here.

    .venv/bin/python bench/socket_flood.py                     # 200 requests per socket kind and scenario
    .venv/bin/python bench/socket_flood.py --count 20          # a quick check
    .venv/bin/python bench/socket_flood.py --disconnect-after 50   # the default limit; the flooder reconnects
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NODE_DIR = ROOT / "tests" / "e2e"
RESULTS = ROOT / "bench" / "results"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
SCENARIOS = {"quiet": None, "flood-sio": "sio", "flood-ws": "ws"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(args: argparse.Namespace, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnop",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": args.database_url or "",
        "SQLITE_PATH": str(workdir / "bench.sqlite3"),
        "REDIS_URL": "",
        "SOCKET_RATE_DISCONNECT_AFTER": str(args.disconnect_after),
    }
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    log = (workdir / "daphne.log").open("wb")
    argv = [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"]
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=1) as response:
            if response.status == 200:
                return server, url
        time.sleep(0.1)
    server.kill()
    raise RuntimeError("daphne did not become healthy")


def node(script: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    binary = shutil.which("node")
    assert binary, "Node.js runs the clients (make test-e2e-deps installs them)"
    return subprocess.Popen([binary, str(NODE_DIR / script), *args], text=True, stdout=subprocess.PIPE, **popen)


def scenario(args: argparse.Namespace, url: str, name: str, flood: str | None) -> dict[str, Any]:
    flooder = None
    if flood is not None:
        mode = "reconnect" if args.disconnect_after else "once"
        flooder = node("socket_flood.mjs", url, flood, f"flooder-{name}", str(args.window), mode, stdin=subprocess.PIPE)
        assert flooder.stdout is not None
        assert json.loads(flooder.stdout.readline())["event"] == "flooding"
    probe = node("socket_probe.mjs", url, f"patient-{name}", str(args.count), str(args.pace_ms))
    answered = json.loads(probe.communicate(timeout=args.count * 30)[0])
    result: dict[str, Any] = {kind: summary(answered[kind]) for kind in ("sio", "ws")}
    if flooder is not None:
        output = flooder.communicate(input="", timeout=30)[0]
        result["flood"] = json.loads(output.splitlines()[-1])["data"]
    return result


def summary(probe: dict[str, Any]) -> dict[str, Any]:
    ms = sorted(probe["ms"])

    def at(p: float) -> float:
        return round(ms[min(len(ms) - 1, int(p / 100 * len(ms)))], 1) if ms else float("nan")

    return {"answered": probe["answered"], "p50": at(50), "p90": at(90), "p99": at(99), "max": at(100)}


def table(results: dict[str, Any]) -> str:
    lines = ["scenario    socket  answered   p50 ms   p90 ms   p99 ms   max ms   flood (sent / refused / closed)"]
    for name, result in results.items():
        flood = result.get("flood")
        flooded = f"{flood['sent']} / {flood['refused']} / {flood['closes']}" if flood else ""
        for kind in ("sio", "ws"):
            row = result[kind]
            lines.append(
                f"{name:<11} {kind:<7} {row['answered']:>8} {row['p50']:>8} {row['p90']:>8} {row['p99']:>8} "
                f"{row['max']:>8}   {flooded}"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="list_chats per socket kind and scenario")
    parser.add_argument("--pace-ms", type=int, default=100, help="pause between one request's reply and the next")
    parser.add_argument("--window", type=int, default=3000, help="flood events unanswered at any time")
    parser.add_argument("--database-url", default="", help="PostgreSQL instead of a scratch SQLite file")
    parser.add_argument(
        "--disconnect-after",
        type=int,
        default=0,
        help="SOCKET_RATE_DISCONNECT_AFTER; 0 (the default here) never closes the flooder, so one socket floods "
        "throughout; with N > 0 (50 is the server's default) the flooder opens a new socket each time one is closed",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="socket-flood-") as workdir:
        server, url = start_server(args, Path(workdir))
        try:
            results = {name: scenario(args, url, name, flood) for name, flood in SCENARIOS.items()}
        finally:
            server.terminate()
            server.wait(30)
    print(table(results))
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {"args": vars(args), "machine": platform.platform(), "cpus": os.cpu_count(), "results": results}
    (RESULTS / f"socket_flood-{stamp}.json").write_text(json.dumps(record, indent=2))
    return 0 if all(r[kind]["answered"] == args.count for r in results.values() for kind in ("sio", "ws")) else 1


if __name__ == "__main__":
    sys.exit(main())
