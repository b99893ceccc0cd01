"""Branches: a user message hangs off the previous user message of its branch (``parent``), and each version
remembers whether it is the one chosen among its siblings (``selected``). Answers get their ``reasoning``.

Every chat so far is one line of turns, so each user message's parent is the user message two positions up, and
the chosen versions are the current ones. The rows are linked after the constraints exist: those hold for both
the unlinked and the linked rows.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def link_turns(apps, schema_editor):
    Message = apps.get_model("chats", "Message")
    previous = Message.objects.filter(chat_id=OuterRef("chat_id"), role="user", position=OuterRef("position") - 2)
    Message.objects.filter(role="user", position__gte=2).update(parent=Subquery(previous.values("pk")[:1]))
    Message.objects.filter(is_current=False).update(selected=False)


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0002_message_last_event_id"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="message",
            name="message_turn_version_unique",
        ),
        migrations.AddField(
            model_name="message",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="children",
                to="chats.message",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="reasoning",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="message",
            name="selected",
            field=models.BooleanField(default=True),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                condition=models.Q(("role", "assistant")),
                fields=("reply_to", "version"),
                name="message_answer_version_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                condition=models.Q(("parent__isnull", False), ("role", "user")),
                fields=("parent", "version"),
                name="message_user_version_unique",
            ),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                condition=models.Q(("parent__isnull", True), ("role", "user")),
                fields=("chat", "position", "version"),
                name="message_first_turn_version_unique",
            ),
        ),
        migrations.RunPython(link_turns, migrations.RunPython.noop),
    ]
