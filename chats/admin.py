from django.contrib import admin

from chats.models import Chat, Message


class MessageInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Message
    fields = ("position", "version", "role", "status", "is_current", "selected", "content", "cost", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("position", "version")
    show_change_link = True


@admin.register(Chat)
class ChatAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "title", "user", "anon_id", "model", "created_at", "updated_at")
    list_filter = ("model", "created_at")
    search_fields = ("id", "title", "user__username", "anon_id")
    raw_id_fields = ("user",)
    date_hierarchy = "updated_at"
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "chat", "role", "status", "model", "version", "completion_tokens", "cost", "created_at")
    list_filter = ("role", "status", "model", "is_current")
    search_fields = ("id", "content", "chat__id", "chat__title")
    raw_id_fields = ("chat", "parent", "reply_to")
    date_hierarchy = "created_at"
