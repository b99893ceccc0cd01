"""The prompt sent upstream: the system prompt, as many recent turns as fit the budget, and the new message."""

from __future__ import annotations

from django.conf import settings

from chats.models import Message
from messaging.models import LanguageModel
from messaging.providers import Prompt
from messaging.requests import GenerationRequest
from messaging.tokens import PER_MESSAGE_OVERHEAD, estimate_prompt_tokens, estimate_tokens


def prompt_messages(history: list[Message], last_user: str) -> tuple[list[dict[str, str]], int]:
    """System prompt, then as many recent turns as fit the token budget, then the user's message; and the
    estimated prompt tokens."""
    head = [{"role": "system", "content": settings.SYSTEM_PROMPT}] if settings.SYSTEM_PROMPT else []
    tail = [{"role": "user", "content": last_user}]
    budget = settings.HISTORY_TOKEN_BUDGET - estimate_prompt_tokens(head + tail)
    kept: list[dict[str, str]] = []
    for message in reversed(history):
        cost = estimate_tokens(message.content) + PER_MESSAGE_OVERHEAD
        if cost > budget or not message.content:
            break
        budget -= cost
        kept.append({"role": message.role, "content": message.content})
    messages = head + kept[::-1] + tail
    return messages, estimate_prompt_tokens(messages)


def prompt_build(
    model: LanguageModel, request: GenerationRequest, history: list[Message], last: str
) -> tuple[Prompt, int]:
    messages, estimate = prompt_messages(history, last)
    max_tokens = min(request.max_tokens or model.max_output_tokens, model.max_output_tokens)
    return Prompt(messages=messages, temperature=request.temperature, max_tokens=max_tokens), estimate
