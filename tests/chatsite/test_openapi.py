"""The OpenAPI schema at /api/schema/: valid OpenAPI 3.1, and a description of every endpoint of the API, so that an
endpoint added without one fails here (schemathesis then fuzzes each: tests/e2e/test_api_schema.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from django.test import Client
from drf_spectacular.validation import validate_schema

from chatsite.openapi import url_views

# The schema and its page describe the API; they are not part of it.
NOT_DESCRIBED = {"/api/schema/", "/api/docs/"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return dict(json.loads(response.content))


def api_paths() -> list[str]:
    return sorted(
        path for path, _ in url_views() if path.startswith(("/api/", "/health")) and path not in NOT_DESCRIBED
    )


def test_the_schema_is_valid_openapi_3_1(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.1")
    validate_schema(schema)


def test_the_schema_describes_every_endpoint_of_the_api_and_nothing_else(schema: dict[str, Any]) -> None:
    assert "/api/v1/messages/{message_id}/stream" in api_paths()
    assert sorted(schema["paths"]) == api_paths()


def test_every_operation_says_who_may_call_it_and_describes_its_answers(schema: dict[str, Any]) -> None:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("security"), f"{method} {path} names no security requirement"
            assert operation["operationId"], f"{method} {path} has no operationId"
            successes = [status for status in operation["responses"] if status.startswith("2")]
            assert successes, f"{method} {path} describes no success"


def test_the_streams_describe_each_event_of_an_answer(schema: dict[str, Any]) -> None:
    send = schema["paths"]["/api/v1/messages/send"]["post"]
    stream = send["responses"]["200"]["content"]["text/event-stream"]["schema"]
    events = schema["components"]["schemas"][stream["$ref"].rsplit("/", 1)[1]]["oneOf"]
    names = {event["properties"]["event"]["const"] for event in events}
    assert names == {
        "assistant_typing",
        "assistant_regenerating",
        "assistant_reasoning_delta",
        "assistant_delta",
        "assistant_complete",
        "assistant_regenerated",
        "usage_info",
        "assistant_error",
    }
    refused = send["responses"]["429"]["content"]
    assert set(refused) == {"text/event-stream", "application/json"}


def test_the_request_bodies_carry_the_real_limits(schema: dict[str, Any], settings: Any) -> None:
    body = schema["paths"]["/api/v1/messages/send"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["content"]
    assert body["properties"]["content"]["maxLength"] == settings.MAX_MESSAGE_CHARS
    assert body["properties"]["temperature"]["maximum"] == 2
    assert body["properties"]["client_message_id"]["maxLength"] == 128


def test_the_schema_is_served_as_yaml_by_default() -> None:
    response = Client().get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(response.content)["info"]["title"] == "chatsite API"
