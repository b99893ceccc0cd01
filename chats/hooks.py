"""What higher layers plug into the management protocol (registered from their ``AppConfig.ready``), so that
this layer can trigger work it must not import: stopping the generation of a chat being deleted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

GenerationStopper = Callable[[str], Awaitable[None]]

_stoppers: list[GenerationStopper] = []


def generation_stopper_register(stopper: GenerationStopper) -> None:
    if stopper not in _stoppers:
        _stoppers.append(stopper)


async def generations_stop(message_ids: list[str]) -> None:
    for message_id in message_ids:
        for stopper in _stoppers:
            await stopper(message_id)
