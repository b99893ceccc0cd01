"""Token estimates, for reservations before a call and for charges when the upstream reports no usage.

About four characters a token is what OpenAI documents for English text; a reservation is an upper bound
anyway, and the real charge comes from the upstream's own count whenever it sends one.
"""

from __future__ import annotations

import math

PER_MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def estimate_prompt_tokens(messages: list[dict[str, str]]) -> int:
    return sum(estimate_tokens(m["content"]) + PER_MESSAGE_OVERHEAD for m in messages)
