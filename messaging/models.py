from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import Q

from usage.money import credits

PER_MILLION = Decimal(1_000_000)


class LanguageModel(models.Model):
    """A model clients may ask for, and how to reach and price it. Edited in the admin or by import_models."""

    class Provider(models.TextChoices):
        OPENAI = "openai"
        ECHO = "echo"

    name = models.CharField(max_length=100, unique=True, help_text="What clients send as `model`.")
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.OPENAI)
    upstream_model = models.CharField(max_length=100, blank=True, default="", help_text="Defaults to name.")
    base_url = models.URLField(blank=True, default="", help_text="Defaults to OPENAI_BASE_URL.")
    api_key_env = models.CharField(
        max_length=100, blank=True, default="", help_text="Variable holding the key; defaults to OPENAI_API_KEY."
    )
    input_price = models.DecimalField(
        max_digits=14, decimal_places=6, default=Decimal("0"), help_text="Credits per 1M prompt tokens."
    )
    output_price = models.DecimalField(
        max_digits=14, decimal_places=6, default=Decimal("0"), help_text="Credits per 1M output tokens."
    )
    max_output_tokens = models.PositiveIntegerField(default=1024)
    anonymous_allowed = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False)
    reasoning = models.BooleanField(
        default=True,
        help_text="Stream and store the model's reasoning (reasoning_content / reasoning deltas); off: dropped.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_model"),
            models.CheckConstraint(
                condition=Q(input_price__gte=0) & Q(output_price__gte=0), name="model_prices_not_negative"
            ),
            models.CheckConstraint(condition=Q(max_output_tokens__gte=1), name="model_max_output_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def cost(self, *, prompt_tokens: int, completion_tokens: int) -> Decimal:
        raw = (prompt_tokens * self.input_price + completion_tokens * self.output_price) / PER_MILLION
        return credits(raw)

    def to_payload(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provider": self.provider,
            "input_price": str(self.input_price),
            "output_price": str(self.output_price),
            "max_output_tokens": self.max_output_tokens,
            "anonymous_allowed": self.anonymous_allowed,
            "default": self.is_default,
            "reasoning": self.reasoning,
        }


class SendKey(models.Model):
    """A client's idempotency key for one send, so a retried send returns the first one's stream."""

    owner_key = models.CharField(max_length=140)
    key = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64)
    assistant_message = models.ForeignKey("chats.Message", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner_key", "key"], name="send_key_unique_per_owner")]

    def __str__(self) -> str:
        return f"{self.owner_key} {self.key}"
