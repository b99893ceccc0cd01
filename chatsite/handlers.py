"""The ASGI handler of the API: Django's, with a middleware stack of its own and less work per request.

Django's ASGI handler is built for every kind of view. For this API, which is all async views with their
database work on a shared pool of threads, three of its costs are pure overhead on the hot path:

- the admin's middleware (sessions, messages, CSRF, authentication): each of those is synchronous and costs a
  thread hop each way; the API has its own list, ``API_MIDDLEWARE``;
- a thread started for every request, for the request's synchronous work (a synchronous view, the request
  signals): here a request borrows one of a few kept threads, and uses it only if it has synchronous work (the
  signals are then sent in it, where they close the thread's database connections; otherwise on the loop);
- the streaming machinery between a server-sent event stream and the server: an ``EventStreamResponse`` is
  written straight to the server, one ``send`` per chunk.

The admin keeps Django's own handler (see chatsite/asgi.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import aclosing, suppress
from typing import Any, cast

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import set_script_prefix

from chatsite.sse import EventStreamResponse

Send = Callable[[Mapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]


class RequestThread(ThreadPoolExecutor):
    """The thread a request's synchronous work runs in (Django's rule: one thread per request), kept for the
    next request instead of started anew; it notes whether the request used it."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self.used = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.used = True
        return super().submit(fn, *args, **kwargs)


class ApiHandler(ASGIHandler):
    KEPT_THREADS = 16

    def __init__(self) -> None:
        super().__init__()
        self._threads: list[RequestThread] = []

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the stack from settings.MIDDLEWARE; this handler's stack is API_MIDDLEWARE.
        site = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = site

    async def __call__(self, scope: Mapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self._threads.pop() if self._threads else RequestThread()
        thread.used = False
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self._handle(dict(scope), receive, send, thread)
        finally:
            if len(self._threads) < self.KEPT_THREADS:
                self._threads.append(thread)
            else:
                thread.shutdown(wait=False)

    async def _handle(self, scope: dict[str, Any], receive: Receive, send: Send, thread: RequestThread) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            await self.send_response(error_response, send)
            await self._finish(error_response, thread)
        else:
            await self._finish(await self._respond(request, receive, send), thread)
        body_file.close()

    async def _finish(self, response: HttpResponseBase | None, thread: RequestThread) -> None:
        """Close the response (``None``: the client left first), which sends ``request_finished``: in the
        request's thread if it did synchronous work there (its receivers close that thread's connections)."""
        finish: Callable[[], object] = response.close if response is not None else self._finished
        if thread.used:
            await sync_to_async(finish)()
        else:
            finish()

    def _finished(self) -> None:
        signals.request_finished.send(sender=self.__class__)

    async def _respond(self, request: HttpRequest, receive: Receive, send: Send) -> HttpResponseBase | None:
        """Make and send the response while listening for the client leaving, which cancels it (``None``)."""

        async def process() -> HttpResponseBase:
            response = await self.run_get_response(request)
            with suppress(asyncio.CancelledError):  # the client left while the response was being sent
                await self.send_response(response, send)
            return response

        listening = asyncio.create_task(self.listen_for_disconnect(receive))
        processing = asyncio.create_task(process())
        await asyncio.wait([listening, processing], return_when=asyncio.FIRST_COMPLETED)
        for task in (listening, processing):
            if task.done():
                with suppress(RequestAborted):
                    task.result()
            else:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
        return None if processing.cancelled() else processing.result()

    async def send_response(self, response: HttpResponseBase, send: Send) -> None:
        if not isinstance(response, EventStreamResponse):
            await super().send_response(response, send)
            return
        headers = [(name.encode("ascii"), value.encode("latin1")) for name, value in response.items()]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        async with aclosing(cast(AsyncGenerator[bytes, None], response.chunks)) as chunks:
            async for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body"})
