"""The OpenAPI schema, fuzzed against a real server by schemathesis: every operation, as a guest and as a signed-in
user, answers no server error and nothing the schema does not describe (status, content type, body, headers; each
server-sent event's payload included)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.http import get_json, post_stream
from tests.e2e.servers import Server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
]
# Bounded: a few examples per operation, on top of schemathesis's boundary cases (its coverage phase).
MAX_EXAMPLES = 6
RUN_SECONDS = 180


def fuzz_server(servers: Any) -> Server:
    """A production-like worker (no debug pages), with the limits that would hide most sends raised and no pauses
    in the echo model or the test stream."""
    return servers(
        DJANGO_DEBUG="0",
        ECHO_DELAY_MS="0",
        TEST_SSE_INTERVAL_MS="0",
        ANON_MESSAGE_LIMIT="200",
        ANON_IP_LIMIT="1000",
    )


def conversation(server: Server, headers: dict[str, str]) -> list[str]:
    """The ids of a real turn of the caller (its user message and its answer), for the operations on a message."""
    result = post_stream(f"{server.url}/api/v1/messages/send", {"content": "Hello schema"}, headers)
    assert result.status == 200, result.events
    typing = result.events[0].data
    return [typing["user_message_id"], typing["message_id"]]


def config(path: Path, auth: str, message_ids: list[str]) -> Path:
    """A schemathesis.toml: who calls, and real message ids mixed into the generated ones."""
    ids = json.dumps(message_ids)
    binding = '{ dictionary = "messages", probability = 0.6 }'
    path.write_text(
        f"{auth}\n"
        f"[dictionaries.messages]\nvalues = {ids}\n\n"
        f'[parameters]\n"path.message_id" = {binding}\n"body.message_id" = {binding}\n',
        encoding="utf-8",
    )
    return path


def schemathesis_run(server: Server, config_file: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "--config-file",
        str(config_file),
        "run",
        f"{server.url}/api/schema/",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        "--no-color",
    ]
    # (In the test's own directory: schemathesis keeps a cache where it runs.)
    cwd = config_file.parent
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=RUN_SECONDS, check=False)


def operation_count(server: Server) -> int:
    schema = get_json(f"{server.url}/api/schema/?format=json")
    methods = {"get", "post", "put", "patch", "delete"}
    return sum(1 for operations in schema["paths"].values() for method in operations if method in methods)


def assert_clean(run: subprocess.CompletedProcess[str], operations: int) -> None:
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-20000:]
    assert f"Tested: {operations}" in report, report[-5000:]


def test_every_operation_answers_as_described_for_a_guest(servers: Any, tmp_path: Path) -> None:
    server = fuzz_server(servers)
    guest = {"x-anon-id": "schema-fuzz-guest-01"}
    ids = conversation(server, guest)
    auth = f'[auth.openapi.anonId]\napi_key = "{guest["x-anon-id"]}"\n'

    run = schemathesis_run(server, config(tmp_path / "schemathesis.toml", auth, ids))

    assert_clean(run, operation_count(server))


def test_every_operation_answers_as_described_for_a_signed_in_user(servers: Any, tmp_path: Path) -> None:
    server = fuzz_server(servers)
    body = json.dumps({"username": "schema-fuzz-user", "password": "a long passphrase for fuzzing"}).encode()
    request = urllib.request.Request(
        f"{server.url}/api/v1/auth/register", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        access = json.loads(response.read())["access"]
    ids = conversation(server, {"Authorization": f"Bearer {access}"})
    auth = f'[auth.openapi.bearerAuth]\nbearer = "{access}"\n'

    run = schemathesis_run(server, config(tmp_path / "schemathesis.toml", auth, ids))

    assert_clean(run, operation_count(server))


@pytest.mark.parametrize("debug", ["1", "0"], ids=["make-run", "production"])
def test_the_docs_page_is_served_with_its_own_files_and_no_cdn(servers: Any, debug: str) -> None:
    server = servers(DJANGO_DEBUG=debug)
    with urllib.request.urlopen(f"{server.url}/api/docs/", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/html")
        page = response.read().decode()

    files = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert any(name.endswith("swagger-ui-bundle.js") for name in files), page
    assert all(name.startswith("/static/drf_spectacular_sidecar/") for name in files), files
    for name in files:
        with urllib.request.urlopen(f"{server.url}{name}", timeout=10) as response:
            assert response.status == 200 and response.read(), name
    assert '"/api/schema/"' in page
    assert get_json(f"{server.url}/api/schema/?format=json")["openapi"].startswith("3.1")
