"""Medians over repeated runs of ``stream_overhead.py``: one saturated run says little (its tail varies 2-5x).

    for i in 1 2 3 4 5; do .venv/bin/python bench/stream_overhead.py --label embedded-$i; done
    .venv/bin/python bench/summarize.py embedded

reads the result files in ``bench/results/`` whose label is ``embedded-<anything>`` and prints the median and
the range of the added p99 and p50, the median time to the first token and the server's CPU seconds.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    prefix = sys.argv[1] + "-"
    runs = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("stream_overhead-*.json"))]
    runs = [run for run in runs if str(run.get("label", "")).startswith(prefix)]
    if not runs:
        print(f"no results labelled {prefix}* in {RESULTS}")
        return 1
    p99 = sorted(run["added"]["p99_ms"] for run in runs)
    p50 = sorted(run["added"]["p50_ms"] for run in runs)
    first = [run["server"]["first_token_ms"]["p50"] for run in runs]
    cpu = [sum(s for name, s in run["server"]["cpu_s"].items() if name.startswith("daphne")) for run in runs]
    errors = sum(run["server"]["errors"] + run["direct"]["errors"] for run in runs)
    print(
        f"{sys.argv[1]}: {len(runs)} runs, added p99 median {statistics.median(p99):.1f} ms "
        f"(range {p99[0]:.1f}-{p99[-1]:.1f}), added p50 median {statistics.median(p50):.2f} ms "
        f"(range {p50[0]:.2f}-{p50[-1]:.2f}), first token p50 median {statistics.median(first):.0f} ms, "
        f"server CPU median {statistics.median(cpu):.1f} s, errors {errors}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
