"""The built-in ``echo`` model, so a fresh clone streams answers with no API key."""

from django.db import migrations


def create_echo(apps, schema_editor):
    LanguageModel = apps.get_model("messaging", "LanguageModel")
    LanguageModel.objects.get_or_create(
        name="echo",
        defaults={
            "provider": "echo",
            "anonymous_allowed": True,
            "enabled": True,
            "is_default": not LanguageModel.objects.filter(is_default=True).exists(),
            "max_output_tokens": 4096,
        },
    )


def remove_echo(apps, schema_editor):
    apps.get_model("messaging", "LanguageModel").objects.filter(name="echo", provider="echo").delete()


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]
    operations = [migrations.RunPython(create_echo, remove_echo)]
