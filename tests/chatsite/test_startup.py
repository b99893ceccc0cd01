"""A bad setting stops manage.py and daphne with one line naming the variable, not a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _run(command: list[str], **variables: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "DJANGO_DEBUG": "1", **variables}
    return subprocess.run(command, cwd=PROJECT_ROOT, env=environ, capture_output=True, text=True, timeout=60)


def _assert_one_line_naming(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Configuration error: ")
    assert variable in lines[0]


BAD_VALUES = [
    ({"PORT": "abc"}, "PORT"),
    ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG"),
    ({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "too-short"}, "DJANGO_SECRET_KEY"),
    ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    ({"SIGNUP_PER_IP": "-1"}, "SIGNUP_PER_IP"),
    ({"SECURE_HSTS_SECONDS": "a year"}, "SECURE_HSTS_SECONDS"),
    ({"SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"}, "SECURE_PROXY_SSL_HEADER"),  # with no trusted proxy
    ({"SECURE_PROXY_SSL_HEADER": "X Forwarded: Proto", "TRUSTED_PROXY_COUNT": "1"}, "SECURE_PROXY_SSL_HEADER"),
]


def _ids(value: object) -> str:
    return ",".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else str(value)


@pytest.mark.parametrize(("variables", "named"), BAD_VALUES, ids=_ids)
def test_manage_py_stops_with_one_line_naming_a_bad_setting(variables: dict[str, str], named: str) -> None:
    _assert_one_line_naming(_run([sys.executable, "manage.py", "check"], **variables), named)


@pytest.mark.parametrize("command", [["migrate", "--plan"], ["import_models", "examples/models.json"], ["help"]])
def test_every_manage_py_command_stops_the_same_way(command: list[str]) -> None:
    _assert_one_line_naming(_run([sys.executable, "manage.py", *command], PORT="abc"), "PORT")


@pytest.mark.parametrize(("variables", "named"), BAD_VALUES[:3], ids=_ids)
def test_daphne_stops_with_one_line_naming_a_bad_setting(variables: dict[str, str], named: str) -> None:
    daphne = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(free_port()), "chatsite.asgi:application"]

    _assert_one_line_naming(_run(daphne, **variables), named)


@pytest.mark.parametrize(("variables", "named"), BAD_VALUES[:3], ids=_ids)
def test_the_server_stops_with_one_line_naming_a_bad_setting(variables: dict[str, str], named: str) -> None:
    serve = [sys.executable, "-m", "chatsite.serve", "--port", str(free_port())]

    _assert_one_line_naming(_run(serve, **variables), named)
