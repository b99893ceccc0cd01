"""With the HTTPS settings on, a real server redirects plain HTTP, except the health probe and the metrics."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.servers import ROOT

pytestmark = pytest.mark.e2e

HTTPS_ON = {
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "3600",
    "TRUSTED_PROXY_COUNT": "1",
    "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
}


def _get(port: int, path: str, **headers: str) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_the_container_health_check_passes_over_plain_http_with_the_redirect_on(servers: Any) -> None:
    server = servers(**HTTPS_ON)  # (the fixture itself waits for /health to answer 200 over plain HTTP)
    environ = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PORT": str(server.port)}

    probe = subprocess.run(
        [sys.executable, "docker/healthcheck.py"], cwd=ROOT, env=environ, capture_output=True, text=True, timeout=30
    )

    assert probe.returncode == 0, probe.stderr
    assert _get(server.port, "/metrics").status == 200


def test_plain_http_is_redirected_to_https_and_https_gets_hsts(servers: Any) -> None:
    server = servers(**HTTPS_ON)

    plain = _get(server.port, "/api/v1/models")
    secure = _get(server.port, "/api/v1/models", **{"X-Forwarded-Proto": "https"})

    assert plain.status == 301
    assert plain.headers["Location"] == f"https://127.0.0.1:{server.port}/api/v1/models"
    assert secure.status == 200
    assert secure.headers["Strict-Transport-Security"] == "max-age=3600"
