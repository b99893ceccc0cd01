"""The names of the events the streaming endpoints send. Payloads are described in docs/protocol.md."""

from __future__ import annotations

ASSISTANT_TYPING = "assistant_typing"
ASSISTANT_REGENERATING = "assistant_regenerating"
ASSISTANT_DELTA = "assistant_delta"
ASSISTANT_COMPLETE = "assistant_complete"
ASSISTANT_REGENERATED = "assistant_regenerated"
ASSISTANT_ERROR = "assistant_error"
USAGE_INFO = "usage_info"
TEST_MESSAGE = "test_message"
TEST_COMPLETE = "test_complete"

# Pushed to the caller's management sockets (the management protocol lives in chats.protocol).
CHAT_CREATED = "chat_created"
CHAT_UPDATED = "chat_updated"
MESSAGE_CREATED = "message_created"
