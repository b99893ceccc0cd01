"""Model providers: each turns a prompt into a stream of text pieces (and of reasoning, for a model that shows
its thinking) ending with the token usage.

Errors come out as the ``ApiError`` subclasses of chatsite.errors, so the generation maps each upstream
fault to its own client-visible code without knowing which provider ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx2
import openai
from django.conf import settings

from chatsite.errors import (
    UpstreamBadResponse,
    UpstreamDisconnected,
    UpstreamError,
    UpstreamStalled,
    UpstreamTimeout,
)
from messaging.models import LanguageModel
from messaging.tokens import estimate_tokens


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Reasoning:
    """A piece of a reasoning model's thinking (``delta.reasoning_content`` or ``delta.reasoning``)."""

    text: str


@dataclass(frozen=True)
class Prompt:
    messages: list[dict[str, str]]
    temperature: float | None
    max_tokens: int


class Provider(Protocol):
    def stream(self, model: LanguageModel, prompt: Prompt) -> AsyncIterator[str | Reasoning | Usage]: ...


class EchoProvider:
    """The built-in model: streams back a reply made from the user's last message, word by word."""

    async def stream(self, model: LanguageModel, prompt: Prompt) -> AsyncIterator[str | Reasoning | Usage]:
        last = next((m["content"] for m in reversed(prompt.messages) if m["role"] == "user"), "")
        words = f"You said: {last}".split(" ")[: prompt.max_tokens]
        delay = settings.ECHO_DELAY_MS / 1000
        for index, word in enumerate(words):
            if delay:
                await asyncio.sleep(delay)
            yield word if index == 0 else " " + word
        prompt_tokens = sum(estimate_tokens(m["content"]) for m in prompt.messages)
        yield Usage(prompt_tokens=prompt_tokens, completion_tokens=len(words))


# Per event loop, weakly (see chatsite/redis.py): a client's connection pool belongs to its loop.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], openai.AsyncOpenAI]] = (
    weakref.WeakKeyDictionary()
)


def openai_client(base_url: str, api_key: str) -> openai.AsyncOpenAI:
    """One client (one connection pool) per base URL and key, per event loop that uses it."""
    clients = _clients.setdefault(asyncio.get_running_loop(), {})
    client = clients.get((base_url, api_key))
    if client is None:
        timeout = openai.Timeout(
            connect=settings.UPSTREAM_CONNECT_TIMEOUT,
            read=settings.UPSTREAM_FIRST_TOKEN_TIMEOUT,
            write=settings.UPSTREAM_CONNECT_TIMEOUT,
            pool=settings.UPSTREAM_CONNECT_TIMEOUT,
        )
        client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "not-set",
            max_retries=settings.UPSTREAM_MAX_RETRIES,
            timeout=timeout,
            # The client's aiohttp transport reads a streamed chunk for about half the CPU of its default
            # pure-Python one, and the upstream read is the largest per-token cost (docs/performance.md).
            http_client=openai.DefaultAioHttpClient(timeout=timeout),
        )
        clients[(base_url, api_key)] = client
    return client


class OpenAIProvider:
    """Any OpenAI-compatible chat completions API, through the official client.

    The client sends the request (auth, retries before the first byte, error statuses); the stream itself is
    read as raw server-sent lines and parsed with ``json.loads``. Letting the client build a typed object per
    chunk costs about 300 µs a chunk, which at 64 concurrent answers is most of a CPU core (docs/performance.md).
    """

    async def stream(self, model: LanguageModel, prompt: Prompt) -> AsyncIterator[str | Reasoning | Usage]:
        client = openai_client(
            model.base_url or settings.OPENAI_BASE_URL,
            os.environ.get(model.api_key_env, "") if model.api_key_env else settings.OPENAI_API_KEY,
        )
        extra: dict[str, Any] = {}
        if prompt.temperature is not None:
            extra["temperature"] = prompt.temperature
        completions: Any = client.chat.completions.with_streaming_response
        request = completions.create(
            model=model.upstream_model or model.name,
            # The history goes in as the request body's ``messages`` untouched: it is built here from stored strings,
            # already in the wire format, and the client's own walk over every message (to transform typed
            # params) costs about 150 us a message on the event loop, several milliseconds for a long chat during
            # which no other answer's tokens move (docs/performance.md).
            messages=[],
            extra_body={"messages": prompt.messages},
            stream=True,
            stream_options={"include_usage": True},
            max_tokens=prompt.max_tokens,
            **extra,
        )
        try:
            async with request as response:
                async for item in _chunks(_lines(response.http_response.aiter_bytes())):
                    yield item
        except openai.APITimeoutError as exc:
            if _timed_out(exc):
                raise UpstreamTimeout() from None
            raise UpstreamError("The model provider could not be reached.") from None
        except openai.APIStatusError as exc:
            raise UpstreamError(f"The model provider answered {exc.status_code}.") from None
        except openai.APIError as exc:
            raise UpstreamError(f"The model provider could not be reached: {exc.message}") from None


async def _lines(raw: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The lines of a byte stream. (The response's own text and line decoders are three generator layers
    deep: this is the one per-chunk step that needs to be cheap.)"""
    pending = b""
    async for data in raw:
        *lines, pending = (pending + data).split(b"\n")
        for line in lines:
            yield line
    if pending:
        yield pending


async def _chunks(lines: AsyncIterator[bytes]) -> AsyncIterator[str | Reasoning | Usage]:
    """Reasoning and text pieces and the usage of one completion stream; a stream that ends without a finish
    was cut."""
    finished = False
    try:
        async for line in lines:
            if not line.startswith(b"data:"):
                continue  # blank separators, comments, `event:` lines
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            for item in _parse_chunk(data):
                if item is None:
                    finished = True
                else:
                    yield item
    except httpx2.TransportError as exc:
        raise (UpstreamStalled() if _timed_out(exc) else UpstreamDisconnected()) from None
    if not finished:
        raise UpstreamDisconnected()


def _timed_out(exc: BaseException) -> bool:
    """Whether a transport error really was a timeout. (The aiohttp transport reports every lost connection,
    a refused one included, as a connect timeout; the original exception tells the truth.)"""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError | aiohttp.ServerTimeoutError):
            return True
        if isinstance(seen, aiohttp.ClientError | OSError) and not isinstance(seen, TimeoutError):
            return False
        seen = seen.__cause__ or seen.__context__
    return True


def _parse_chunk(data: bytes) -> list[str | Reasoning | Usage | None]:
    """One ``chat.completion.chunk`` as reasoning and text pieces, its usage, and ``None`` for a finish."""
    try:
        chunk = json.loads(data)
        if chunk.get("error"):
            message = chunk["error"].get("message") if isinstance(chunk["error"], dict) else None
            raise UpstreamError(f"The model provider reported an error: {message or 'unknown'}")
        items: list[str | Reasoning | Usage | None] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            # DeepSeek and vLLM name it reasoning_content, OpenRouter reasoning; a server sending both sends one text.
            thought = delta.get("reasoning_content") or delta.get("reasoning")
            if thought and isinstance(thought, str):
                items.append(Reasoning(thought))
            content = delta.get("content")
            if content:
                items.append(content)
            if choice.get("finish_reason") is not None:
                items.append(None)
        usage = chunk.get("usage")
        if usage:
            items.append(Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)))
        return items
    except (ValueError, TypeError, AttributeError, KeyError):
        raise UpstreamBadResponse() from None


PROVIDERS: dict[str, Provider] = {
    LanguageModel.Provider.ECHO: EchoProvider(),
    LanguageModel.Provider.OPENAI: OpenAIProvider(),
}
