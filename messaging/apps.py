from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The management protocol (chats) stops the generation of a chat it deletes through this hook.
        from chats.hooks import generation_stopper_register
        from chatsite.lifecycle import drain_register
        from messaging.generation import generations_drain
        from messaging.stops import stop_request

        generation_stopper_register(stop_request)
        # A shutdown lets running answers finish (then stops, stores and settles the rest).
        drain_register(generations_drain)
