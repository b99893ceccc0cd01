"""What the benchmark scripts share: subprocesses and their CPU time, the run's deadline, the machine and the
commit a result was measured on, percentiles and the py-spy profiler.

Nothing here imports Django or the project's apps: the benchmarks talk to the server over HTTP and read
process-level facts only.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
ACCESS_LOG = re.compile(r'\] "(GET|POST) ')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Deadline:
    """The whole run's time budget: every wait takes what is left of it."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the benchmark ran out of its --timeout")
        return remaining


def _stop(process: subprocess.Popen[bytes], grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


class Processes:
    """The subprocesses this run started, stopped in reverse order whatever happens."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log_path = self.workdir / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.started.append((name, process, log_path))
        return process

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The last lines of a process's log, without daphne's access log lines."""
        for started_name, _, path in self.started:
            if started_name == name and path.exists():
                kept = [line for line in path.read_text(errors="replace").splitlines() if not ACCESS_LOG.search(line)]
                return "\n".join(kept[-lines:])
        return ""

    def stop(self, names: list[str]) -> None:
        """Stop some of them now (their logs stay until the scratch directory goes)."""
        chosen = [process for name, process, _ in self.started if name in names]
        for process in chosen:
            if process.poll() is None:
                process.terminate()
        for process in chosen:
            _stop(process)

    def stop_all(self) -> None:
        for _, process, _ in reversed(self.started):
            if process.poll() is None:
                process.terminate()
        for _, process, _ in reversed(self.started):
            _stop(process)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far (Linux /proc), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def port_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def worker_name(index: int, workers: int) -> str:
    return "daphne" if workers == 1 else f"daphne-{index + 1}"


def server_argv(port: int) -> list[str]:
    """The command of one worker: the project's server (``python -m chatsite.serve``), or daphne with
    ``BENCH_SERVER=daphne`` to compare the two. (Workers keep the name "daphne" in results either way.)"""
    if os.environ.get("BENCH_SERVER") == "daphne":
        return [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatsite.asgi:application"]
    return [PYTHON, "-m", "chatsite.serve", "--port", str(port)]


def percentile(sorted_values: list[int], p: float) -> float:
    """Nearest-rank percentile of nanoseconds, in milliseconds."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), -(-len(sorted_values) * p // 100)))
    return sorted_values[int(rank) - 1] / 1e6


def p99_by_second(arrivals_ns: list[int], latencies_ns: list[int]) -> list[float]:
    """p99 latency (ms) of the tokens that arrived in each second of a phase: a tail made by sends arriving
    together shows in the first seconds, one made by answers ending together late, a steady overload in every
    second."""
    if not arrivals_ns:
        return []
    first = min(arrivals_ns)
    groups: dict[int, list[int]] = {}
    for arrived, latency in zip(arrivals_ns, latencies_ns, strict=True):
        groups.setdefault((arrived - first) // 1_000_000_000, []).append(latency)
    return [round(percentile(sorted(groups[second]), 99), 2) for second in sorted(groups)]


def result_header(args: Any, load_before: float, code: dict[str, Any]) -> dict[str, Any]:
    """What every result file starts with: the run's label, time, command, arguments, code and machine."""
    return {
        "label": args.label,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": {k: v for k, v in vars(args).items() if k != "keep"},
        "code": code,
        "machine": {**machine(), "loadavg_1m_before": load_before, "loadavg_1m_after": os.getloadavg()[0]},
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it (the app changes under a bench)."""

    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if not line[3:].startswith("bench/")]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "uncommitted_changes": changed}


def machine() -> dict[str, Any]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    model = ""
    with contextlib.suppress(OSError):
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
        model = found.group(1) if found else ""
    return {
        "nproc": affinity or os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


class Profiler:
    """py-spy sampling one daphne process while a phase runs (``--profile``); py-spy is not a dependency."""

    def __init__(self, path: str, pid: int, extra: str) -> None:
        self.path, self.pid, self.extra = path, pid, extra.split()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        spy = shutil.which("py-spy") or str(Path(PYTHON).with_name("py-spy"))
        fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(Path(self.path).suffix, "raw")
        argv = [spy, "record", "--nonblocking", "-r", "200", "-f", fmt, "-o", self.path, "-p", str(self.pid)]
        self.process = subprocess.Popen([*argv, *self.extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # let it attach before the phase starts

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        print(f"profile of daphne: {self.path}")


def terminate_on_sigterm() -> None:
    """A SIGTERM unwinds through the ``finally`` blocks that stop the subprocesses, as Ctrl-C does."""

    def _terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
