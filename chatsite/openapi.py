"""The OpenAPI 3 description of the HTTP API, served by drf-spectacular at ``/api/schema/`` (``/api/docs/`` shows it).

drf-spectacular describes DRF views itself: the auth endpoints, from their serializers and ``extend_schema``. The
other endpoints are plain async views it cannot look into. Each of them declares its own description with
``described`` (as a streaming view declares its admission with ``admitted_by``), in the app that owns it, and
``openapi_postprocess``, the generator's postprocessing hook, finds those declarations on the URL patterns and
merges them in, with the components they name. This module knows no app: only what views declare.

The pieces every app uses live here: the ``{code, error}`` error body, the two ways of naming the caller (security
schemes), and helpers that write a JSON response, an error response and a header parameter.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.urls import URLPattern, URLResolver, get_resolver

Schema = dict[str, Any]
Security = list[dict[str, list[str]]]
V = TypeVar("V", bound=Callable[..., Any])

DESCRIPTION_ATTRIBUTE = "openapi"
ERROR = "Error"
RATE_LIMITED = "RateLimitedError"

# Who may call an operation (OpenAPI security requirements: any one of the list is enough).
CALLER: Security = [{"bearerAuth": []}, {"anonId": []}]  # a signed-in user or a guest
CALLER_OPTIONAL: Security = [*CALLER, {}]
USER: Security = [{"bearerAuth": []}]
NOBODY: Security = [{}]

SECURITY_SCHEMES: Schema = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from /api/v1/auth/token or /register. A token that is present but unusable "
        "is always 401 TOKEN_INVALID, never a fall-back to the anonymous id.",
    },
    "anonId": {
        "type": "apiKey",
        "in": "header",
        "name": "x-anon-id",
        "description": "A guest's id, chosen by the client: 8 to 128 characters of A-Z a-z 0-9 _ - "
        "(400 VALIDATION_ERROR otherwise). A token wins when both are sent.",
    },
}

ERROR_SCHEMAS: dict[str, Schema] = {
    ERROR: {
        "type": "object",
        "description": "Every error. `code` is stable (switch on it); `error` is a human sentence that may change.",
        "properties": {
            "code": {"type": "string", "example": "VALIDATION_ERROR"},
            "error": {"type": "string", "example": "The request is not valid."},
        },
        "required": ["code", "error"],
    },
    RATE_LIMITED: {
        "type": "object",
        "description": "RATE_LIMITED: the error, and the whole seconds until the limit's window ends.",
        "properties": {
            "code": {"type": "string", "enum": ["RATE_LIMITED"]},
            "error": {"type": "string"},
            "retry_after": {"type": "integer", "minimum": 1},
        },
        "required": ["code", "error", "retry_after"],
    },
}


def nullable(schema: Schema) -> Schema:
    """``schema``, or null (OpenAPI 3.1: a list of types)."""
    return {**schema, "type": [schema["type"], "null"]}


def object_schema(properties: Schema, required: list[str] | None = None, description: str = "") -> Schema:
    """An object of ``properties``, all of them required unless ``required`` names some."""
    schema: Schema = {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }
    return {**schema, "description": description} if description else schema


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def json_response(description: str, schema: Schema, headers: Schema | None = None) -> Schema:
    return {"description": description, "content": json_content(schema), **({"headers": headers} if headers else {})}


def error_response(*codes: str) -> Schema:
    """A JSON ``{code, error}`` refusal; ``codes`` are the error codes this status carries on the operation."""
    return json_response(" or ".join(codes), ref(ERROR))


def header(name: str, description: str, schema: Schema, required: bool = False) -> Schema:
    return {"name": name, "in": "header", "required": required, "description": description, "schema": schema}


def query(name: str, description: str, schema: Schema, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


@dataclass(frozen=True)
class Description:
    """What a view says of itself: its operations by HTTP method (lower case), and the schemas they refer to."""

    operations: dict[str, Schema]
    components: dict[str, Schema] = field(default_factory=dict)


def described(operations: dict[str, Schema], components: dict[str, Schema] | None = None) -> Callable[[V], V]:
    """Declare a plain view's OpenAPI operations (the schema hook looks for them on the resolved view)."""

    def decorate(view: V) -> V:
        setattr(view, DESCRIPTION_ATTRIBUTE, Description(operations, components or {}))
        return view

    return decorate


def description_of(view: Callable[..., Any]) -> Description | None:
    return getattr(view, DESCRIPTION_ATTRIBUTE, None)


_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def url_views(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[tuple[str, Callable[..., Any]]]:
    """Every URL of the project as an OpenAPI path (``/api/v1/messages/{message_id}/stream``), with its view."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from url_views(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield "/" + _CONVERTER.sub(r"{\1}", route), pattern.callback


def _components_merge(components: Schema, added: dict[str, Schema]) -> None:
    schemas = components.setdefault("schemas", {})
    for name, schema in added.items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"Two views describe the OpenAPI component {name} differently")


def openapi_postprocess(result: Schema, generator: Any, request: Any, public: bool) -> Schema:
    """drf-spectacular's ``POSTPROCESSING_HOOKS`` entry: add the described plain views and shared components."""
    components = result.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    _components_merge(components, ERROR_SCHEMAS)
    paths = result.setdefault("paths", {})
    for path, view in url_views():
        description = description_of(view)
        if description is None:
            continue
        paths[path] = {**paths.get(path, {}), **description.operations}
        _components_merge(components, description.components)
    result["paths"] = dict(sorted(paths.items()))
    return result


def caller_errors(*, required: bool = True) -> dict[str, Schema]:
    """The refusals of an endpoint that names its caller (``required``: a token or an anonymous id), as JSON."""
    unauthorized = ("AUTH_REQUIRED", "TOKEN_INVALID") if required else ("TOKEN_INVALID",)
    return {
        "400": error_response("VALIDATION_ERROR (a malformed x-anon-id, a NUL character in a header)"),
        "401": error_response(*unauthorized),
        "503": error_response("SERVICE_UNAVAILABLE (the database is unreachable)"),
    }


MESSAGE_ID = {
    "name": "message_id",
    "in": "path",
    "required": True,
    "description": "A message's id. A message that does not exist or is another caller's is 404 NOT_FOUND.",
    "schema": {"type": "string", "format": "uuid"},
}
