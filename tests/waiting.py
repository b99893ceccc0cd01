"""Waiting for a detached generation to end, as a client polling the API would."""

from __future__ import annotations

import asyncio

from chats.models import Message


async def message_finished(message_id: str, timeout: float = 10) -> Message:
    """The message once it is no longer ``streaming`` (fails the test after ``timeout`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        message = await Message.objects.aget(pk=message_id)
        if message.status != Message.Status.STREAMING:
            return message
        await asyncio.sleep(0.02)
    raise AssertionError(f"message {message_id} was still streaming after {timeout} s")
