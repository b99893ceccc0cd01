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
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
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
            # No read timeout in the client: the generation bounds the wait for the first token and every stall
            # itself, and a read timeout here would re-arm a timer on every chunk of every answer.
            read=None,
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


async def openai_clients_close() -> None:
    """Close this event loop's clients (their connection pools). The loop would outlive them otherwise: each
    client's sessions hold the loop, so the weak entry never goes by itself."""
    for client in _clients.pop(asyncio.get_running_loop(), {}).values():
        await client.close()


class OpenAIProvider:
    """Any OpenAI-compatible chat completions API, through the official client.

    The client sends the request (auth, retries before the first byte, error statuses) with its documented
    ``post`` for a raw response: the body is built here from stored strings, already in the wire format, and the
    typed ``create`` walks every parameter and message to transform it (docs/performance.md). The stream itself
    is read as raw server-sent lines and parsed with ``json.loads``, not as a typed object per chunk.
    """

    async def stream(self, model: LanguageModel, prompt: Prompt) -> AsyncIterator[str | Reasoning | Usage]:
        client = openai_client(
            model.base_url or settings.OPENAI_BASE_URL,
            os.environ.get(model.api_key_env, "") if model.api_key_env else settings.OPENAI_API_KEY,
        )
        try:
            response = await client.post(
                "/chat/completions", cast_to=httpx2.Response, body=_request_body(model, prompt), stream=True
            )
            try:
                async with aclosing(_body(response)) as body:  # closed at once, not left to the collector
                    async for item in _chunks(body):
                        yield item
            finally:
                await response.aclose()
        except openai.APITimeoutError as exc:
            if _timed_out(exc):
                raise UpstreamTimeout() from None
            raise UpstreamError("The model provider could not be reached.") from None
        except openai.APIStatusError as exc:
            raise UpstreamError(f"The model provider answered {exc.status_code}.") from None
        except openai.APIError as exc:
            raise UpstreamError(f"The model provider could not be reached: {exc.message}") from None


def _request_body(model: LanguageModel, prompt: Prompt) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model.upstream_model or model.name,
        "messages": prompt.messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": prompt.max_tokens,
    }
    if prompt.temperature is not None:
        body["temperature"] = prompt.temperature
    return body


def _body(response: httpx2.Response) -> AsyncGenerator[bytes, None]:
    """The response's bytes as the transport reads them, unless they need decoding: the response's own
    iterators add two layers of bookkeeping per chunk; a compressed stream (rare for events) goes through them."""
    if response.headers.get("content-encoding", "identity") != "identity":
        return response.aiter_bytes()
    return aiter(response.stream)  # type: ignore[arg-type,return-value]  # the aiohttp transport's generator


async def _chunks(raw: AsyncIterator[bytes]) -> AsyncIterator[str | Reasoning | Usage]:
    """Reasoning and text pieces and the usage of one completion stream, from its raw bytes; a stream that ends
    without a finish was cut. (One loop for lines and events: the one per-token step that needs to be cheap.)"""
    finished, done, pending = False, False, b""
    try:
        async for data in raw:
            *lines, pending = (pending + data).split(b"\n")
            for line in lines:
                if not line.startswith(b"data:"):
                    continue  # blank separators, comments, `event:` lines
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    done = True
                    break
                for item in _parse_chunk(payload):
                    if item is None:
                        finished = True
                    else:
                        yield item
            if done:
                break
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
