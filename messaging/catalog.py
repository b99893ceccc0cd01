"""Reads of the model catalog."""

from __future__ import annotations

from django.db.models import QuerySet

from chatsite.errors import ModelNotAllowed, ModelNotFound
from chatsite.identity import Identity
from chatsite.sql import fetch_one
from messaging.models import LanguageModel


def models_for(identity: Identity | None) -> QuerySet[LanguageModel]:
    """The enabled models this caller may use (anonymous callers only the ones allowed to them)."""
    models = LanguageModel.objects.filter(enabled=True)
    if identity is None or identity.is_anonymous:
        models = models.filter(anonymous_allowed=True)
    return models


_FIELDS = LanguageModel._meta.concrete_fields
_SELECT = (
    f"SELECT {', '.join(str(field.column) for field in _FIELDS)} FROM {LanguageModel._meta.db_table} WHERE enabled"
)


def model_resolve(*, identity: Identity, name: str | None) -> LanguageModel:
    """The model a request asks for, or the default; unknown or disabled is MODEL_NOT_FOUND. (Read in SQL: every
    send asks; chatsite/sql.py.)"""
    row = fetch_one(_SELECT + " AND name = %s", [name]) if name else fetch_one(_SELECT + " AND is_default", [])
    model = (
        None if row is None else LanguageModel(**{f.attname: f.to_python(v) for f, v in zip(_FIELDS, row, strict=True)})
    )
    if model is None:
        raise ModelNotFound(f"No model named {name!r}." if name else "No default model is configured.")
    if identity.is_anonymous and not model.anonymous_allowed:
        raise ModelNotAllowed(f"Sign in to use {model.name}.")
    return model
