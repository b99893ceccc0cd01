from django.apps import AppConfig


class UsageConfig(AppConfig):
    name = "usage"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the reservation gauges' read with /metrics.
        import usage.metrics  # noqa: F401
