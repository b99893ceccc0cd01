"""The README's walk-through for a new user runs as written against a real server and prints what it shows."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e.servers import ROOT

pytestmark = pytest.mark.e2e


def readme_user_walkthrough() -> list[str]:
    """The lines of the sh block under the README's "As a user" heading."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"### As a user.*?```sh\n(.*?)```", text, re.DOTALL)
    assert found, "README.md has no sh block under '### As a user'"
    return found.group(1).splitlines()


def test_the_readmes_user_walkthrough_runs_and_moves_the_credits_as_shown(servers: Any) -> None:
    assert shutil.which("curl"), "the README's commands need curl (.ci/run installs it)"
    server = servers()
    lines = readme_user_walkthrough()
    commands = "\n".join(line for line in lines if not line.startswith("#"))
    script = commands.replace("localhost:3000", f"127.0.0.1:{server.port}").replace(".venv/bin/python", sys.executable)

    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        timeout=90,
    )

    assert result.returncode == 0, result.stderr
    shown_usage = [line[2:] for line in lines if line.startswith('# {"anonymous"')]
    assert shown_usage == [
        '{"anonymous": false, "balance": "0.500000", "reserved": "0.000000", "available": "0.500000"}',
        '{"anonymous": false, "balance": "0.493000", "reserved": "0.000000", "available": "0.493000"}',
    ]
    printed = result.stdout
    assert printed.startswith("created echo-paid\n1 created, 0 updated, 0 unchanged\n")
    assert all(usage in printed for usage in shown_usage)
    assert '"content":"You said: Hello there","reasoning":"","status":"complete","model":"echo-paid"' in printed
    assert '"usage":{"prompt_tokens":3,"completion_tokens":4,"cost":"0.007000"}' in printed
