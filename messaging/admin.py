from django.contrib import admin

from messaging.models import LanguageModel, SendKey


@admin.register(LanguageModel)
class LanguageModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "name",
        "provider",
        "upstream_model",
        "input_price",
        "output_price",
        "max_output_tokens",
        "anonymous_allowed",
        "enabled",
        "is_default",
        "reasoning",
    )
    list_filter = ("provider", "enabled", "anonymous_allowed", "reasoning")
    list_editable = ("enabled", "anonymous_allowed")
    search_fields = ("name", "upstream_model")


@admin.register(SendKey)
class SendKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("owner_key", "key", "assistant_message", "created_at")
    search_fields = ("owner_key", "key")
    raw_id_fields = ("assistant_message",)
