"""A real nginx in front of test workers, configured by the shipped ``docker/nginx.conf`` itself.

The file is rendered for a test, not copied: its ``server web:3000`` lines become the workers' local ports, it
listens on a free loopback port, and its pid, logs and temporary files go to a scratch directory given to nginx
as its prefix (``-p``), so it needs no root path. Every other line is the one Compose runs. Django-free, so a
benchmark can use it too.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "docker" / "nginx.conf"
UPSTREAM_SERVER = re.compile(r"^(?P<indent>[ \t]*)server web:3000\b[^;]*;\n", re.MULTILINE)
# Relative to the prefix; the compiled-in defaults are under /var/lib/nginx.
TEMP_PATHS = "".join(
    f"    {kind}_temp_path tmp/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
)
# The shipped log_format: `"$request" $status ... upstream="$upstream_addr"`.
ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<uri>\S+) [^"]*" (?P<status>\d{3}) .* upstream="(?P<upstream>[^"]*)"')


def nginx_binary() -> str | None:
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _replace(text: str, old: str, new: str, count: int) -> str:
    found = text.count(old)
    if found != count:
        raise ValueError(f"docker/nginx.conf: expected {old!r} {count} time(s), found it {found} time(s)")
    return text.replace(old, new)


def render(text: str, *, port: int, upstream_ports: list[int]) -> str:
    """The shipped configuration with local upstreams, a loopback listener and logs under the prefix."""

    def local_servers(match: re.Match[str]) -> str:
        return "".join(f"{match['indent']}server 127.0.0.1:{upstream};\n" for upstream in upstream_ports)

    text, upstreams = UPSTREAM_SERVER.subn(local_servers, text)
    if upstreams < 1:
        raise ValueError("docker/nginx.conf: no `server web:3000` line to replace")
    text = _replace(text, "listen 80;", f"listen 127.0.0.1:{port};", 1)
    text = _replace(text, "/var/log/nginx/access.log", "logs/access.log", 1)
    text = _replace(text, "/var/log/nginx/error.log", "logs/error.log", 1)
    text = _replace(text, "\nhttp {\n", "\nhttp {\n" + TEMP_PATHS, 1)
    return "pid logs/nginx.pid;\n" + text


@dataclass(frozen=True)
class Served:
    """One line of the access log: a request and the worker (``host:port``) nginx passed it to."""

    method: str
    uri: str
    status: int
    upstream: str


class Nginx:
    def __init__(self, upstream_ports: list[int]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.upstream_ports = upstream_ports
        self.prefix = Path(tempfile.mkdtemp(prefix="chatsite-nginx-"))
        # Started as root, nginx's workers run as an unprivileged user and write their temporary files here.
        self.prefix.chmod(0o755)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Nginx:
        binary = nginx_binary()
        assert binary, "nginx is needed (apt-get install nginx-light)"
        (self.prefix / "logs").mkdir()
        (self.prefix / "tmp").mkdir()
        config = render(SHIPPED.read_text(), port=self.port, upstream_ports=self.upstream_ports)
        (self.prefix / "nginx.conf").write_text(config)
        self.process = subprocess.Popen(
            # -e: the log nginx writes to before it has read the configuration (a build's default may be root's).
            [binary, "-p", f"{self.prefix}/", "-e", "stderr", "-c", "nginx.conf", "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=(self.prefix / "logs" / "stderr.log").open("wb"),
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited at start:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx did not listen:\n{self.log()}")

    def log(self) -> str:
        logs = self.prefix / "logs"
        return "\n".join(
            path.read_text(errors="replace") for name in ("stderr.log", "error.log") if (path := logs / name).exists()
        )

    def served(self) -> list[Served]:
        """Every request finished so far, in order (nginx writes a line when a request ends)."""
        path = self.prefix / "logs" / "access.log"
        lines = path.read_text().splitlines() if path.exists() else []
        return [
            Served(m["method"], m["uri"], int(m["status"]), m["upstream"])
            for line in lines
            if (m := ACCESS_LINE.search(line))
        ]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # fast shutdown: open streams and sockets are cut
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.prefix, ignore_errors=True)
