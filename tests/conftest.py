"""Shared fixtures: the catalog, identities, services, the fake upstream and real server processes."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings

from tests.fakes.upstream import FakeUpstream

REQUIRE_SERVICES = os.environ.get("CHATSITE_REQUIRE_SERVICES") == "1"


def _reachable(url: str, default_port: int) -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked redis/postgres need the run configured with that service; in CI a skip is a failure."""
    missing = []
    if item.get_closest_marker("redis") and not (settings.REDIS_URL and _reachable(settings.REDIS_URL, 6379)):
        missing.append("Redis (REDIS_URL)")
    is_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    if item.get_closest_marker("postgres") and not is_postgres:
        missing.append("PostgreSQL (DATABASE_URL)")
    if missing:
        message = "needs " + " and ".join(missing)
        if REQUIRE_SERVICES:
            pytest.fail(message + ", and CHATSITE_REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _catalog(request: pytest.FixtureRequest) -> None:
    """Transactional tests flush the tables, data migrations included: put the echo model back."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    if marker is None and not names & {"db", "transactional_db"}:
        return
    transactional = "transactional_db" in names or bool(
        marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0]))
    )
    request.getfixturevalue("transactional_db" if transactional else "db")
    from messaging.models import LanguageModel

    LanguageModel.objects.get_or_create(
        name="echo",
        defaults={"provider": "echo", "anonymous_allowed": True, "is_default": True, "max_output_tokens": 4096},
    )


@pytest.fixture(autouse=True)
def _fresh_redis(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each Redis test starts with an empty key space under the project's prefix."""
    if settings.REDIS_URL and request.node.get_closest_marker("redis"):
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(f"{settings.REDIS_PREFIX}*"))
        if keys:
            client.delete(*keys)
        client.close()
    yield


@pytest.fixture(autouse=True)
async def _upstream_clients_closed() -> AsyncIterator[None]:
    """Every test's event loop is new: close the upstream clients it opened, or their sessions outlive it."""
    yield
    from messaging.providers import openai_clients_close

    await openai_clients_close()


@pytest.fixture(autouse=True)
def _dependencies_up() -> None:
    """Each test starts with Redis and the database taken to be up: the breakers are per process, and one that a
    test left open (a call that timed out on a loaded machine) would refuse the next test's sends."""
    from chatsite.outages import database_health, redis_health

    redis_health.down_since = database_health.down_since = None


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeUpstream]:
    """A real HTTP server speaking the OpenAI streaming API, for the real openai client."""
    fake = FakeUpstream()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_model(db: Any, upstream: FakeUpstream) -> Any:
    """A paid model served by the fake upstream; its behaviour is chosen by ``upstream_model`` options."""
    from messaging.models import LanguageModel

    def make(name: str = "fake", upstream_model: str = "fake", **fields: Any) -> LanguageModel:
        defaults = {
            "provider": "openai",
            "upstream_model": upstream_model,
            "base_url": upstream.base_url,
            "input_price": Decimal("1"),
            "output_price": Decimal("2"),
            "max_output_tokens": 1000,
            "anonymous_allowed": True,
            **fields,
        }
        model, _ = LanguageModel.objects.update_or_create(name=name, defaults=defaults)
        return model

    return make


@pytest.fixture
def user(db: Any) -> Any:
    from django.contrib.auth import get_user_model

    from usage.services import account_open

    account = get_user_model().objects.create_user(username="alice", password="s3cret-pass-word")
    account_open(user_id=account.pk)
    return account


@pytest.fixture
def access_token(user: Any) -> str:
    from rest_framework_simplejwt.tokens import RefreshToken

    return str(RefreshToken.for_user(user).access_token)


@pytest.fixture(scope="session", autouse=True)
def _close_worker_connections(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """Async tests run database work in asgiref's worker thread; close its connection before the test database
    is dropped (PostgreSQL refuses to drop a database that still has a session)."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    from chats.sockets import workers

    with django_db_blocker.unblock():
        SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)
        # The socket workers' too. Channels' test communicators keep those connections open (they patch out
        # close_old_connections); one call per thread, each held at the barrier until every thread has one.
        barrier = threading.Barrier(settings.SOCKET_WORKER_THREADS)

        def close() -> None:
            connections.close_all()
            barrier.wait(10)

        for closing in [workers.submit(close) for _ in range(settings.SOCKET_WORKER_THREADS)]:
            closing.result(15)
