"""Reads of the model catalog."""

from __future__ import annotations

from django.db.models import QuerySet

from chatsite.errors import ModelNotAllowed, ModelNotFound
from chatsite.identity import Identity
from messaging.models import LanguageModel


def models_for(identity: Identity | None) -> QuerySet[LanguageModel]:
    """The enabled models this caller may use (anonymous callers only the ones allowed to them)."""
    models = LanguageModel.objects.filter(enabled=True)
    if identity is None or identity.is_anonymous:
        models = models.filter(anonymous_allowed=True)
    return models


def model_resolve(*, identity: Identity, name: str | None) -> LanguageModel:
    """The model a request asks for, or the default; unknown or disabled is MODEL_NOT_FOUND."""
    enabled = LanguageModel.objects.filter(enabled=True)
    model = enabled.filter(name=name).first() if name else enabled.filter(is_default=True).first()
    if model is None:
        raise ModelNotFound(f"No model named {name!r}." if name else "No default model is configured.")
    if identity.is_anonymous and not model.anonymous_allowed:
        raise ModelNotAllowed(f"Sign in to use {model.name}.")
    return model
