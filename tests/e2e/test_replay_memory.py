"""A worker's memory stays bounded when many readers replay a long finished answer at once."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.http import parallel, post_stream

pytestmark = pytest.mark.e2e
GUEST = {"x-anon-id": "replay-memory-guest-01"}
ANSWER_TOKENS, WORD_CHARS = 1500, 2000  # an answer of 3 MB (6 MB as events: the deltas, then the end)
READERS = 20


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class PeakMemory:
    """The highest resident memory of a process while the block runs, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._done = pid, 0.0, threading.Event()

    def __enter__(self) -> PeakMemory:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.01)


def replay(url: str) -> tuple[int, bool]:
    """Read a whole stream from its first event, keeping only its size and whether it held the answer's end."""
    request = urllib.request.Request(url, headers={**GUEST, "Last-Event-ID": "0"})
    size, tail, ended = 0, b"", False
    with urllib.request.urlopen(request, timeout=60) as response:
        while chunk := response.read(64 * 1024):
            size += len(chunk)
            ended = ended or b"event: assistant_complete" in tail + chunk
            tail = chunk[-64:]
    return size, ended


def test_twenty_readers_replaying_a_long_answer_share_one_copy_of_it(servers: Any, fake_model: Any) -> None:
    """Each reader used to hold its own decoded copy of the answer (twenty readers of 5 MB took the worker from
    about 200 MB to over 600): now a finished answer is replayed from one copy shared by its readers, written
    to each in slices, so the peak grows by a small multiple of the answer, not by one answer per reader."""
    fake_model(upstream_model=f"fake:tokens={ANSWER_TOKENS}:word_chars={WORD_CHARS}", max_output_tokens=ANSWER_TOKENS)
    server = servers()
    assert server.process is not None
    sent = post_stream(f"{server.url}/api/v1/messages/send", {"model": "fake", "content": "long"}, GUEST)
    assert sent.status == 200 and sent.events[-1].name == "usage_info", server.log()
    url = f"{server.url}/api/v1/messages/{sent.events[0].data['message_id']}/stream"
    answer_mb = len(sent.events[-2].data["message"]["content"]) / 2**20
    replay(url)  # the first replay warms what every replay needs (imports, buffers)
    time.sleep(0.5)
    before = rss_mb(server.process.pid)

    with PeakMemory(server.process.pid) as memory:
        replies = parallel([lambda: replay(url)] * READERS)

    assert all(ended for _, ended in replies), "every reader got the whole answer"
    assert len({size for size, _ in replies}) == 1
    growth = memory.peak - before
    assert growth < 10 * answer_mb, f"peak {growth:.0f} MB above {before:.0f} MB for a {answer_mb:.1f} MB answer"
