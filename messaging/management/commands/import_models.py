"""import_models FILE.json: upsert the model catalog from a JSON list, all or nothing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from messaging.catalog_import import CatalogImportError, catalog_import, catalog_read


class Command(BaseCommand):
    help = (
        "Create or update language models by name from a JSON list of objects. Fields left out keep their "
        "value; any bad item refuses the whole file."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="JSON file: a list of objects with at least a name.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            changes = catalog_import(data=catalog_read(path=Path(options["file"])))
        except CatalogImportError as exc:
            raise CommandError(f"nothing imported:\n{exc}") from None
        for change in changes:
            if change.action == "updated":
                self.stdout.write(f"updated {change.name}: {', '.join(change.fields)}")
            else:
                self.stdout.write(f"{change.action} {change.name}")
        counts = Counter(change.action for change in changes)
        self.stdout.write(
            self.style.SUCCESS(
                f"{counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged"
            )
        )
