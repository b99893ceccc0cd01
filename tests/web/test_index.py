"""The page of the reference web client, and what it is made of."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from pathlib import Path

from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "web" / "static" / "web" / "vendor"


def test_the_client_is_served_at_the_root_with_a_strict_content_security_policy(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    html = response.content.decode()
    assert '<script type="module" src="/static/web/app.js"></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "no inline script"
    assert not re.search(r"\son[a-z]+=", html), "no inline event handler"


def test_the_page_answers_only_get_and_head(client: Client) -> None:
    assert client.head("/").status_code == 200
    assert client.post("/").status_code == 405


def test_the_vendored_socket_io_client_is_the_version_the_node_tests_pin() -> None:
    pinned = json.loads((ROOT / "tests" / "package.json").read_text())["dependencies"]["socket.io-client"]
    library = (VENDOR / "socket.io.esm.min.js").read_bytes()
    record = (VENDOR / "socket.io-client.VERSION").read_text()

    assert f"Socket.IO v{pinned}\n".encode() in library[:100]
    assert record.startswith(f"socket.io-client {pinned} (MIT)")
    assert f"sha256 {hashlib.sha256(library).hexdigest()}" in record
    assert "MIT License" in (VENDOR / "socket.io-client.LICENSE").read_text()


def test_the_web_app_imports_none_of_the_apps_it_sits_on() -> None:
    imported = set()
    for source in (ROOT / "web").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])

    assert not imported & {"chats", "messaging", "usage", "accounts"}
