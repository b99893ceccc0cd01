"""A fake of the OpenAI chat completions streaming API: a real HTTP server on 127.0.0.1.

The real ``openai`` client connects to it over ``OPENAI_BASE_URL`` (or a model's ``base_url``). What it does is
chosen by the requested model name, so a server process started by a test can be steered too:
``fake`` streams ``tokens`` words; options are appended with ``:``, for example
``fake:tokens=200:delay_ms=5``, ``fake:status=500``, ``fake:cut_after=3``, ``fake:no_usage``,
``fake:stall_after=3``, ``fake:malformed_after=2``, ``fake:first_delay_ms=2000``, ``fake:echo``,
``fake:stamp`` (each token is the wall-clock time it was sent, in nanoseconds), ``fake:word_chars=2000`` (each
word padded to that many characters, for answers of megabytes), ``fake:reasoning=5`` (five
``delta.reasoning_content`` chunks ``think0``… before the text; ``reasoning_key=reasoning`` names the field as
OpenRouter does).
Every request is recorded (its JSON body, and whether the client closed the connection early).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    body: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    chunks_sent: int = 0
    closed_by_client: bool = False
    closed_at: float | None = None
    finished: bool = False


def _options(model: str) -> dict[str, str]:
    options: dict[str, str] = {}
    for part in model.split(":")[1:]:
        key, _, value = part.partition("=")
        options[key] = value or "1"
    return options


def _chunk(
    model: str, content: str | None = None, finish: str | None = None, usage: Any = None, delta: Any = None
) -> bytes:
    if delta is None:
        delta = {"content": content} if content else {}
    choices = [] if usage is not None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage,
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class FakeUpstream:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        threading.Thread(target=self._serve, name="fake-upstream", daemon=True).start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake upstream did not start")

    def stop(self) -> None:
        """Cancel whatever is still streaming (a stalled handler would never end by itself), then stop."""
        if self._loop is None:
            return

        async def cancel_all() -> None:
            pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in pending:
                task.cancel()
            await asyncio.wait(pending, timeout=2) if pending else None

        asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def reset(self) -> None:
        self.requests.clear()

    def request_with(self, text: str) -> Recorded:
        """The latest request whose last message says ``text`` (title requests and others aside)."""
        for record in reversed(self.requests):
            messages = record.body.get("messages", [])
            if messages and messages[-1].get("content") == text and messages[0].get("role") != "system":
                return record
        raise AssertionError(f"no upstream request ended with {text!r}")

    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        record = Recorded(body=body)
        self.requests.append(record)
        model = str(body.get("model", "fake"))
        options = _options(model)
        if "status" in options:
            return web.json_response(
                {"error": {"message": "fake failure", "type": "server_error"}}, status=int(options["status"])
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            await self._stream(request, response, record, model, options, body)
        except ConnectionResetError:
            record.closed_by_client, record.closed_at = True, time.monotonic()
        except asyncio.CancelledError:
            record.closed_by_client, record.closed_at = True, time.monotonic()
            raise
        return response

    async def _stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        record: Recorded,
        model: str,
        options: dict[str, str],
        body: dict[str, Any],
    ) -> None:
        words = self._words(options, body)
        delay = int(options.get("delay_ms", "0")) / 1000
        await asyncio.sleep(int(options.get("first_delay_ms", "0")) / 1000)
        key = options.get("reasoning_key", "reasoning_content")
        for index in range(int(options.get("reasoning", "0"))):
            await response.write(_chunk(model, delta={"role": "assistant", key: f"think{index} "}))
            if delay:
                await asyncio.sleep(delay)
        for index, word in enumerate(words):
            if "cut_after" in options and index == int(options["cut_after"]):
                request.transport.close()  # type: ignore[union-attr]
                return
            if "stall_after" in options and index == int(options["stall_after"]):
                await asyncio.sleep(3600)
            if "malformed_after" in options and index == int(options["malformed_after"]):
                await response.write(b"data: {not json\n\n")
                continue
            if "stamp" in options:
                word = f"{time.time_ns()}"  # when the fake sent it: benchmarks measure latency per token
            await response.write(_chunk(model, word if index == 0 else " " + word))
            record.chunks_sent += 1
            if delay:
                await asyncio.sleep(delay)
        await response.write(_chunk(model, finish="stop"))
        if "no_usage" not in options:
            prompt = sum(len(m.get("content", "")) // 4 + 4 for m in body.get("messages", []))
            usage = {"prompt_tokens": prompt, "completion_tokens": len(words), "total_tokens": prompt + len(words)}
            await response.write(_chunk(model, usage=usage))
        await response.write(b"data: [DONE]\n\n")
        record.finished = True
        await response.write_eof()

    @staticmethod
    def _words(options: dict[str, str], body: dict[str, Any]) -> list[str]:
        if "echo" in options:
            last = next((m["content"] for m in reversed(body.get("messages", [])) if m["role"] == "user"), "")
            return last.split()[: int(body.get("max_tokens") or 10**6)]
        count = int(options.get("tokens", "8"))
        width = int(options.get("word_chars", "0"))
        return [f"tok{i}".ljust(width, "x") for i in range(min(count, int(body.get("max_tokens") or count)))]


def main() -> None:
    """Run the fake alone (for benchmarks): ``python -m tests.fakes.upstream --port 8099``."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8099)
    port = parser.parse_args().port
    app = web.Application()
    app.router.add_post("/v1/chat/completions", FakeUpstream()._completions)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
