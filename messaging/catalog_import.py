"""Import of the model catalog from JSON: every item is checked first, then all are written or none.

The file is a list of objects keyed by the ``LanguageModel`` field names. Rows are matched by ``name``; a field
an item leaves out keeps its current value (or the model default on create). An operator fixing a file wants
every problem at once, so validation collects all of them before anything is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from messaging.models import LanguageModel


class CatalogImportError(Exception):
    """The file, or items in it, are not a valid catalog; nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class ModelChange:
    """What the import did to one row: ``created``, ``updated`` (with the changed fields) or ``unchanged``."""

    name: str
    action: str
    fields: tuple[str, ...] = ()


@dataclass
class _Planned:
    model: LanguageModel
    created: bool
    changed: list[str]


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {_kind(value)}")
    return value


def _name(value: Any) -> str:
    name = _text(value)
    if not name.strip():
        raise ValueError("must not be empty")
    return name


def _provider(value: Any) -> str:
    provider = _text(value)
    if provider not in LanguageModel.Provider.values:
        raise ValueError(f"{provider!r} is not one of {', '.join(LanguageModel.Provider.values)}")
    return provider


def _price(value: Any) -> Decimal:
    # bool is an int in Python, but `true` is never a price.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"must be a number or a numeric string, not {_kind(value)}")
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not price.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    if price < 0:
        raise ValueError("must not be negative")
    return price


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"must be an integer, not {_kind(value)}")
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {_kind(value)}")
    return value


PARSERS: dict[str, Callable[[Any], Any]] = {
    "name": _name,
    "provider": _provider,
    "upstream_model": _text,
    "base_url": _text,
    "api_key_env": _text,
    "input_price": _price,
    "output_price": _price,
    "max_output_tokens": _positive_int,
    "anonymous_allowed": _flag,
    "enabled": _flag,
    "is_default": _flag,
    "reasoning": _flag,
}


def catalog_read(*, path: Path) -> Any:
    """The parsed JSON of a catalog file, or a CatalogImportError saying why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogImportError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogImportError([f"{path}: cannot be read: {exc}"]) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogImportError([f"{path}: not valid JSON: {exc}"]) from None


def _label(index: int, item: Any) -> str:
    name = item.get("name") if isinstance(item, dict) else None
    return f"item {index} ({name!r})" if isinstance(name, str) else f"item {index}"


def _parse_item(index: int, item: Any, problems: list[str]) -> dict[str, Any] | None:
    """The item's fields as Python values, or None after adding its problems."""
    label = _label(index, item)
    if not isinstance(item, dict):
        problems.append(f"{label}: must be an object, not {_kind(item)}")
        return None
    before = len(problems)
    for key in sorted(set(item) - set(PARSERS)):
        problems.append(f"{label}: {key}: unknown field (known: {', '.join(PARSERS)})")
    if "name" not in item:
        problems.append(f"{label}: name: is required")
    values: dict[str, Any] = {}
    # In the catalog's field order, so that "updated" lines list fields the same way every run.
    for key in (key for key in PARSERS if key in item):
        try:
            values[key] = PARSERS[key](item[key])
        except ValueError as exc:
            problems.append(f"{label}: {key}: {exc}")
    return values if len(problems) == before else None


def _check_file_wide(items: list[dict[str, Any]], labels: list[str], problems: list[str]) -> None:
    first_with_name: dict[str, str] = {}
    for values, label in zip(items, labels, strict=True):
        if values["name"] in first_with_name:
            problems.append(f"{label}: name: duplicates {first_with_name[values['name']]}")
        first_with_name.setdefault(values["name"], label)
    defaults = [label for values, label in zip(items, labels, strict=True) if values.get("is_default")]
    if len(defaults) > 1:
        problems.append(f"{' and '.join(defaults)}: is_default: only one model may be the default")


def _plan(values: dict[str, Any], existing: LanguageModel | None, label: str, problems: list[str]) -> _Planned:
    model = existing or LanguageModel()
    changed = []
    for key, value in values.items():
        if existing is None or getattr(model, key) != value:
            changed.append(key)
        setattr(model, key, value)
    try:
        # The one-default constraint is left out: the import moves the default itself, inside the transaction.
        model.full_clean(exclude=["is_default"])
    except DjangoValidationError as exc:
        for key, messages in exc.message_dict.items():
            problems.extend(f"{label}: {key}: {message}" for message in messages)
    return _Planned(model=model, created=existing is None, changed=changed)


def _validated(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise CatalogImportError([f"the catalog must be a JSON list of objects, not {_kind(data)}"])
    problems: list[str] = []
    parsed = [(_label(index, item), _parse_item(index, item, problems)) for index, item in enumerate(data)]
    if problems:
        raise CatalogImportError(problems)
    items = [values for _, values in parsed if values is not None]
    _check_file_wide(items, [label for label, _ in parsed], problems)
    if problems:
        raise CatalogImportError(problems)
    return items


def catalog_import(*, data: Any) -> list[ModelChange]:
    """Upsert the catalog items in ``data`` by name, all or nothing, and say what changed.

    An item with ``is_default: true`` takes the default from the model that had it; that model is reported as
    updated first, whether or not it is in the file.
    """
    items = _validated(data)
    new_default = next((values["name"] for values in items if values.get("is_default")), None)
    if new_default is not None:
        for values in items:
            values.setdefault("is_default", values["name"] == new_default)
    names = [values["name"] for values in items]
    with transaction.atomic():
        # Locked so that an admin edit between the comparison and the write is not silently overwritten.
        existing = LanguageModel.objects.select_for_update().in_bulk(names, field_name="name")
        problems: list[str] = []
        plans = [
            _plan(values, existing.get(values["name"]), _label(index, values), problems)
            for index, values in enumerate(items)
        ]
        if problems:
            raise CatalogImportError(problems)
        demoted: list[str] = []
        if new_default is not None:
            # The partial unique index allows one default at a time: the old one is cleared before any save.
            old_defaults = LanguageModel.objects.filter(is_default=True).exclude(name=new_default)
            demoted = list(old_defaults.exclude(name__in=names).values_list("name", flat=True))
            old_defaults.update(is_default=False)
        for plan in plans:
            if plan.created:
                plan.model.save()
            elif plan.changed:
                plan.model.save(update_fields=plan.changed)
    return [ModelChange(name=name, action="updated", fields=("is_default",)) for name in demoted] + [
        _change(plan) for plan in plans
    ]


def _change(plan: _Planned) -> ModelChange:
    if plan.created:
        return ModelChange(name=plan.model.name, action="created")
    if plan.changed:
        return ModelChange(name=plan.model.name, action="updated", fields=tuple(plan.changed))
    return ModelChange(name=plan.model.name, action="unchanged")
