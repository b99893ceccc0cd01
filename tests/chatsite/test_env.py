"""Configuration is read from the environment by typed readers that stop the server on a bad value."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatsite.env import env_bool, env_decimal, env_float, env_int, env_list, env_str, env_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# env_str


def test_env_str_reads_a_set_value_without_surrounding_spaces() -> None:
    assert env_str("NAME", "default", environ={"NAME": "  value  "}) == "value"


def test_env_str_falls_back_to_the_default_when_unset_or_empty() -> None:
    assert env_str("NAME", "default", environ={}) == "default"
    assert env_str("NAME", "default", environ={"NAME": ""}) == "default"
    assert env_str("NAME", "default", environ={"NAME": "   "}) == "default"


# env_bool


@pytest.mark.parametrize("raw", ["1", "true", "TRUE", "yes", "Yes", "on", " on "])
def test_env_bool_reads_true_words_as_true(raw: str) -> None:
    assert env_bool("FLAG", False, environ={"FLAG": raw}) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off", ""])
def test_env_bool_reads_false_words_as_false(raw: str) -> None:
    assert env_bool("FLAG", True, environ={"FLAG": raw}) is False


def test_env_bool_falls_back_to_the_default_when_unset() -> None:
    assert env_bool("FLAG", True, environ={}) is True
    assert env_bool("FLAG", False, environ={}) is False


@pytest.mark.parametrize("raw", ["maybe", "2", "y", "enabled"])
def test_env_bool_refuses_a_word_that_is_not_a_boolean(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG", False, environ={"FLAG": raw})


# env_int


def test_env_int_reads_an_integer() -> None:
    assert env_int("COUNT", 3, environ={"COUNT": " 42 "}) == 42
    assert env_int("COUNT", 3, environ={"COUNT": "-5"}) == -5


def test_env_int_falls_back_to_the_default_when_unset_or_empty() -> None:
    assert env_int("COUNT", 3, environ={}) == 3
    assert env_int("COUNT", 3, environ={"COUNT": ""}) == 3


@pytest.mark.parametrize("raw", ["abc", "1.5", "1e3", "ten"])
def test_env_int_refuses_a_value_that_is_not_an_integer(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="COUNT must be an integer"):
        env_int("COUNT", 3, environ={"COUNT": raw})


def test_env_int_accepts_the_bounds_themselves() -> None:
    assert env_int("PORT", 3000, environ={"PORT": "1"}, minimum=1, maximum=65535) == 1
    assert env_int("PORT", 3000, environ={"PORT": "65535"}, minimum=1, maximum=65535) == 65535


def test_env_int_refuses_a_value_below_the_minimum() -> None:
    with pytest.raises(ImproperlyConfigured, match="PORT must be at least 1"):
        env_int("PORT", 3000, environ={"PORT": "0"}, minimum=1, maximum=65535)


def test_env_int_refuses_a_value_above_the_maximum() -> None:
    with pytest.raises(ImproperlyConfigured, match="PORT must be at most 65535"):
        env_int("PORT", 3000, environ={"PORT": "70000"}, minimum=1, maximum=65535)


# env_float


def test_env_float_reads_a_number() -> None:
    assert env_float("SECONDS", 1.0, environ={"SECONDS": "2.5"}) == 2.5
    assert env_float("SECONDS", 1.0, environ={"SECONDS": "3"}) == 3.0


def test_env_float_falls_back_to_the_default_when_unset_or_empty() -> None:
    assert env_float("SECONDS", 1.0, environ={}) == 1.0
    assert env_float("SECONDS", 1.0, environ={"SECONDS": ""}) == 1.0


def test_env_float_refuses_a_value_that_is_not_a_number() -> None:
    with pytest.raises(ImproperlyConfigured, match="SECONDS must be a number"):
        env_float("SECONDS", 1.0, environ={"SECONDS": "soon"})


def test_env_float_refuses_nan() -> None:
    with pytest.raises(ImproperlyConfigured, match="SECONDS"):
        env_float("SECONDS", 1.0, environ={"SECONDS": "nan"})


def test_env_float_refuses_a_value_below_the_minimum() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"SECONDS must be a number of at least 0\.1"):
        env_float("SECONDS", 1.0, environ={"SECONDS": "0.05"}, minimum=0.1)
    with pytest.raises(ImproperlyConfigured, match="SECONDS"):
        env_float("SECONDS", 1.0, environ={"SECONDS": "-1"})


# env_decimal


def test_env_decimal_reads_a_decimal_exactly() -> None:
    assert env_decimal("CREDITS", Decimal("0.5"), environ={"CREDITS": "0.10"}) == Decimal("0.10")
    assert env_decimal("CREDITS", Decimal("0.5"), environ={"CREDITS": "0"}) == Decimal("0")


def test_env_decimal_falls_back_to_the_default_when_unset_or_empty() -> None:
    assert env_decimal("CREDITS", Decimal("0.5"), environ={}) == Decimal("0.5")
    assert env_decimal("CREDITS", Decimal("0.5"), environ={"CREDITS": ""}) == Decimal("0.5")


def test_env_decimal_refuses_a_value_that_is_not_a_decimal() -> None:
    with pytest.raises(ImproperlyConfigured, match="CREDITS must be a decimal number"):
        env_decimal("CREDITS", Decimal("0.5"), environ={"CREDITS": "lots"})


@pytest.mark.parametrize("raw", ["-0.01", "NaN", "Infinity", "sNaN"])
def test_env_decimal_refuses_a_negative_or_non_finite_value(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="CREDITS must be a non-negative decimal"):
        env_decimal("CREDITS", Decimal("0.5"), environ={"CREDITS": raw})


# env_list


def test_env_list_splits_on_commas_and_drops_blank_items() -> None:
    environ = {"HOSTS": " a.example , b.example,, ,c.example "}
    assert env_list("HOSTS", ["default"], environ=environ) == ["a.example", "b.example", "c.example"]


def test_env_list_falls_back_to_a_copy_of_the_default_when_unset() -> None:
    default = ["localhost"]
    value = env_list("HOSTS", default, environ={})
    assert value == ["localhost"]
    value.append("other")
    assert default == ["localhost"]


def test_env_list_reads_an_empty_value_as_an_empty_list() -> None:
    assert env_list("HOSTS", ["localhost"], environ={"HOSTS": ""}) == []


# env_url


def test_env_url_reads_a_url_with_an_allowed_scheme() -> None:
    schemes = ("postgres", "postgresql")
    assert env_url("DB", "", schemes, environ={"DB": "postgres://u@h/db"}) == "postgres://u@h/db"
    assert env_url("DB", "", schemes, environ={"DB": "postgresql://u@h/db"}) == "postgresql://u@h/db"


def test_env_url_falls_back_to_the_default_when_unset() -> None:
    assert env_url("DB", "", ("postgres",), environ={}) == ""
    assert env_url("API", "https://api.example/v1", ("https",), environ={}) == "https://api.example/v1"


@pytest.mark.parametrize("raw", ["mysql://x", "http://x", "postgres:x", "localhost:5432"])
def test_env_url_refuses_a_url_with_another_scheme(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DB must be a URL starting with postgres or postgresql://"):
        env_url("DB", "", ("postgres", "postgresql"), environ={"DB": raw})


# Start-up with the real settings module, in a fresh interpreter.


def _start(then: str = "", **variables: str) -> subprocess.CompletedProcess[str]:
    environ = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), **variables}
    code = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='chatsite.settings'; django.setup()" + then
    return subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=environ, capture_output=True, text=True, timeout=60
    )


def test_the_settings_start_with_debug_on_and_nothing_else_set() -> None:
    result = _start(DJANGO_DEBUG="1")
    assert result.returncode == 0, result.stderr


def test_the_settings_start_with_debug_off_and_a_long_secret_key() -> None:
    result = _start(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="s" * 40)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"DJANGO_DEBUG": "1", "PORT": "abc"}, "PORT"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG"),
        ({"DJANGO_DEBUG": "1", "PORT": "70000"}, "PORT"),
        ({"DJANGO_DEBUG": "1", "DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"DJANGO_DEBUG": "1", "REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"DJANGO_DEBUG": "1", "ALLOWED_ORIGINS": "*"}, "ALLOWED_ORIGINS"),
        ({"DJANGO_DEBUG": "1", "ALLOWED_ORIGINS": "http://a.example, *"}, "ALLOWED_ORIGINS"),
        ({"DJANGO_DEBUG": "0"}, "DJANGO_SECRET_KEY"),
        ({}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "too-short"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_DEBUG": "1", "ANON_MESSAGE_LIMIT": "-1"}, "ANON_MESSAGE_LIMIT"),
        ({"DJANGO_DEBUG": "1", "NEW_USER_CREDITS": "-1"}, "NEW_USER_CREDITS"),
        ({"DJANGO_DEBUG": "1", "SSE_PING_SECONDS": "0"}, "SSE_PING_SECONDS"),
        ({"DJANGO_DEBUG": "1", "LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
        ({"DJANGO_DEBUG": "1", "REDIS_TIMEOUT_SECONDS": "0"}, "REDIS_TIMEOUT_SECONDS"),
        ({"DJANGO_DEBUG": "1", "HEALTH_PROBE_SECONDS": "often"}, "HEALTH_PROBE_SECONDS"),
        ({"DJANGO_DEBUG": "1", "DATABASE_CONNECT_TIMEOUT_SECONDS": "1"}, "DATABASE_CONNECT_TIMEOUT_SECONDS"),
        ({"DJANGO_DEBUG": "1", "DATABASE_STATEMENT_TIMEOUT_SECONDS": "-1"}, "DATABASE_STATEMENT_TIMEOUT_SECONDS"),
        ({"DJANGO_DEBUG": "1", "STREAM_LOG_STALL_SECONDS": "0"}, "STREAM_LOG_STALL_SECONDS"),
    ],
    ids=lambda value: ",".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value,
)
def test_the_settings_refuse_to_start_with_a_bad_value_and_name_it(variables: dict[str, str], named: str) -> None:
    result = _start(**variables)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr


def _database_options(**variables: str) -> dict[str, object]:
    show = "; import json; from django.conf import settings as s; print(json.dumps(s.DATABASES['default']['OPTIONS']))"
    result = _start(show, DJANGO_DEBUG="1", **variables)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def _postgres_options(**variables: str) -> dict[str, object]:
    """The connection options of a PostgreSQL DATABASE_URL, but the pool's (see the test of the pool)."""
    options = _database_options(**variables)
    options.pop("pool", None)
    return options


def _pool(**variables: str) -> object:
    return _database_options(**variables).get("pool")


def test_the_pool_is_sized_from_the_environment() -> None:
    url = "postgres://app@db.example:5432/chat"
    assert _pool(DATABASE_URL=url) == {"min_size": 2, "max_size": 10, "timeout": 10}
    assert _pool(DATABASE_URL=url, DATABASE_POOL_SIZE="4") == {"min_size": 2, "max_size": 4, "timeout": 10}
    assert _pool(DATABASE_URL=url, DATABASE_POOL_SIZE="0") is None  # a new connection per database call


def test_a_postgres_connection_waits_at_most_5_s_to_connect_and_30_s_for_a_statement() -> None:
    options = _postgres_options(DATABASE_URL="postgres://app@db.example:5432/chat")

    assert options == {"connect_timeout": 5, "options": "-c statement_timeout=30000"}


def test_the_database_timeouts_come_from_the_environment_and_the_url_query_wins() -> None:
    assert _postgres_options(DATABASE_URL="postgres://app@db.example/chat", DATABASE_STATEMENT_TIMEOUT_SECONDS="0") == {
        "connect_timeout": 5
    }
    assert _postgres_options(
        DATABASE_URL="postgres://app@db.example/chat?connect_timeout=9&options=-c%20statement_timeout%3D1000",
        DATABASE_CONNECT_TIMEOUT_SECONDS="3",
    ) == {"connect_timeout": 9, "options": "-c statement_timeout=1000"}
