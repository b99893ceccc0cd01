"""Medians over repeated runs: one saturated run says little (its tail varies 2-5x between runs).

    for i in 1 2 3 4 5; do .venv/bin/python bench/stream_overhead.py --label embedded-$i; done
    .venv/bin/python bench/summarize.py embedded

    for i in 1 2 3; do .venv/bin/python bench/capacity.py --label pg1-$i; done
    .venv/bin/python bench/summarize.py pg1

reads the result files in ``bench/results/`` whose label is ``LABEL-<anything>``. For ``stream_overhead.py``
runs it prints the median and the range of the added p99 and p50, the median time to the first token and the
server's CPU seconds; for ``capacity.py`` runs, the median and the range of every headline number.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

# What a capacity run is summarized by: a label, the path to the number in its result, a unit.
CAPACITY_ROWS: list[tuple[str, tuple[str, ...], str]] = [
    ("server CPU per streamed token", ("tokens", "worker_cpu_us_per_token"), "µs"),
    ("server CPU per send, continuing a chat", ("sends", "continue", "worker_cpu_ms_per_send"), "ms"),
    ("server CPU per send, a new chat", ("sends", "new_chat", "worker_cpu_ms_per_send"), "ms"),
    ("server CPU per send, a new guest's first", ("sends", "first_send", "worker_cpu_ms_per_send"), "ms"),
    ("statements per send, continuing", ("sends", "continue", "postgres_per_send", "statements"), ""),
    ("statements per send, a new chat", ("sends", "new_chat", "postgres_per_send", "statements"), ""),
    ("round trips per send, continuing", ("sends", "continue", "postgres_per_send", "round_trips"), ""),
    ("round trips per send, a new chat", ("sends", "new_chat", "postgres_per_send", "round_trips"), ""),
    ("connections per send, continuing", ("sends", "continue", "postgres_per_send", "connections"), ""),
    ("connections per send, a new chat", ("sends", "new_chat", "postgres_per_send", "connections"), ""),
    ("Redis commands per send, continuing", ("sends", "continue", "redis_commands_per_send"), ""),
    ("Redis commands per streamed answer", ("tokens", "redis_commands_per_answer"), ""),
    ("burst: first token p50", ("burst", "server", "first_token_ms", "p50"), "ms"),
    ("burst: first token p99", ("burst", "server", "first_token_ms", "p99"), "ms"),
    ("burst: added token latency p50", ("burst", "added", "p50_ms"), "ms"),
    ("burst: added token latency p99", ("burst", "added", "p99_ms"), "ms"),
    ("concurrent 50 tokens/s streams one worker holds", ("capacity", "streams_held"), "streams"),
    ("1-minute load average before the run", ("machine", "loadavg_1m_before"), ""),
]


def runs_labelled(kind: str, prefix: str) -> list[dict[str, Any]]:
    runs = [json.loads(path.read_text()) for path in sorted(RESULTS.glob(f"{kind}-*.json"))]
    return [run for run in runs if str(run.get("label", "")).startswith(prefix)]


def stream_overhead(label: str, runs: list[dict[str, Any]]) -> None:
    p99 = sorted(run["added"]["p99_ms"] for run in runs)
    p50 = sorted(run["added"]["p50_ms"] for run in runs)
    first = [run["server"]["first_token_ms"]["p50"] for run in runs]
    cpu = [sum(s for name, s in run["server"]["cpu_s"].items() if name.startswith("daphne")) for run in runs]
    errors = sum(run["server"]["errors"] + run["direct"]["errors"] for run in runs)
    print(
        f"{label}: {len(runs)} runs, added p99 median {statistics.median(p99):.1f} ms "
        f"(range {p99[0]:.1f}-{p99[-1]:.1f}), added p50 median {statistics.median(p50):.2f} ms "
        f"(range {p50[0]:.2f}-{p50[-1]:.2f}), first token p50 median {statistics.median(first):.0f} ms, "
        f"server CPU median {statistics.median(cpu):.1f} s, errors {errors}"
    )


def dig(run: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value: Any = run
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def number(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def capacity(label: str, runs: list[dict[str, Any]]) -> None:
    layouts = sorted({f"{run['layout']}, {run['workers']} worker(s)" for run in runs})
    print(f"{label}: {len(runs)} capacity.py runs ({'; '.join(layouts)}), errors {sum(r['errors'] for r in runs)}")
    if len(layouts) > 1:
        print("warning: these runs are of different layouts; give each its own label")
    print("| | median | range | runs |")
    print("|---|---:|---:|---:|")
    for name, path, unit in CAPACITY_ROWS:
        values = sorted(value for run in runs if (value := dig(run, path)) is not None)
        if values:
            middle = f"{number(statistics.median(values))} {unit}".strip()
            print(f"| {name} | {middle} | {number(values[0])} to {number(values[-1])} | {len(values)} |")
    for command in sorted({run["command"] for run in runs}):
        print(f"command: {command}")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    label = sys.argv[1]
    overhead, capacity_runs = runs_labelled("stream_overhead", label + "-"), runs_labelled("capacity", label + "-")
    if not overhead and not capacity_runs:
        print(f"no results labelled {label}-* in {RESULTS}")
        return 1
    if overhead:
        stream_overhead(label, overhead)
    if capacity_runs:
        capacity(label, capacity_runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
