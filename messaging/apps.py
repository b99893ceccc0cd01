from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The management protocol (chats) stops the generation of a chat it deletes through this hook.
        from chats.hooks import generation_stopper_register
        from messaging.stops import stop_request

        generation_stopper_register(stop_request)
