"""`manage.py check --deploy` is clean with the production environment that docs/operations.md documents."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def documented_production_environment() -> dict[str, str]:
    """The `# production.env` block of docs/operations.md, its placeholders (`<...>`) filled with random text."""
    text = (PROJECT_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    found = re.search(r"```sh\n# production\.env\n(.*?)```", text, re.DOTALL)
    assert found, "docs/operations.md has no `# production.env` block"
    environ = {}
    for line in found.group(1).strip().splitlines():
        name, _, value = line.partition("=")
        environ[name] = re.sub(r"<[^>]*>", lambda _: secrets.token_urlsafe(50), value)
    return environ


def test_the_documented_production_environment_passes_the_deploy_check_without_a_warning() -> None:
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **documented_production_environment()}

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_the_documented_production_environment_turns_https_on() -> None:
    environ = documented_production_environment()

    assert environ["DJANGO_DEBUG"] == "0"
    switches = ("SECURE_SSL_REDIRECT", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE")
    assert {name: environ[name] for name in switches} == dict.fromkeys(switches, "1")
    assert int(environ["SECURE_HSTS_SECONDS"]) >= 31536000
