"""What one send costs the server in database work: queries and CPU milliseconds per send.

The latency benchmark (``stream_overhead.py``) shows that the tail of a burst of sends is their database work;
this script measures that work alone, without the network, so that a change to it can be judged in a few
seconds and with little noise. It makes, one send after another, the same service calls the send endpoint
makes: parse, plan, quota (a free message for a guest, a reservation for a user), start, finish (settlement),
``usage_info``. Each guest or user first gets a chat (not measured), so every measured send continues a chat,
as most sends do.

    .venv/bin/python bench/send_cost.py                      # a temporary SQLite file
    .venv/bin/python bench/send_cost.py --database-url postgres://postgres@127.0.0.1:5432/chatsite_bench

With ``--database-url`` the database is migrated and rows are added to it: give it a scratch database.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("plan+quota", "start", "finish+usage")


def setup(database_url: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("REDIS_URL", None)
    os.environ.update(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="bench-" + "k" * 60, DJANGO_ALLOWED_HOSTS="localhost")
    os.environ.update(ANON_MESSAGE_LIMIT="1000000", ANON_IP_LIMIT="1000000", NEW_USER_CREDITS="1000")
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


class QueryCounter:
    """Counts the statements sent to the database (Django's execute wrapper: no debug mode needed)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def counting() -> Iterator[QueryCounter]:
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter


def one_send(identity: Any, model: str, chat_id: str | None, timings: list[float] | None) -> str:
    """One send through the service layer; returns its chat id. ``timings`` gets the CPU seconds of each step."""
    from messaging.requests import send_request_parse
    from messaging.services import Ending, generation_finish, generation_plan, send_replay_of
    from messaging.services import generation_start as start
    from usage.selectors import usage_info
    from usage.services import quota_acquire

    clock = [time.process_time()]

    def lap() -> None:
        clock.append(time.process_time())

    body = json.dumps({"content": "How far is the moon?", "model": model, **({"chat_id": chat_id} if chat_id else {})})
    request = send_request_parse(body.encode(), None)
    send_replay_of(identity=identity, request=request)
    plan = generation_plan(identity=identity, request=request)
    hold = quota_acquire(identity=identity, ip="127.0.0.1", reserve=plan.reserve)
    lap()
    started = start(plan=plan, hold=hold)
    lap()
    generation_finish(
        message_id=started.message_id,
        model=plan.model,
        identity=identity,
        hold=hold,
        ending=Ending(content="About 384,400 km on average.", status="complete", last_event_id=12),
        prompt_estimate=plan.prompt_estimate,
    )
    usage_info(identity=identity)
    lap()
    if timings is not None:
        timings.extend(later - earlier for earlier, later in itertools.pairwise(clock))
    return str(started.chat_id)


def callers(kind: str, n: int, run: str) -> list[Any]:
    from django.contrib.auth import get_user_model

    from chatsite.identity import Identity
    from usage.services import account_open

    if kind == "guest":
        return [Identity(anon_id=f"bench-{run}-{i:04d}") for i in range(n)]
    users = []
    for i in range(n):
        user = get_user_model().objects.create_user(username=f"bench-{run}-{i:04d}", password=None)
        account_open(user_id=user.pk)
        users.append(Identity(user_id=user.pk))
    return users


def measure(kind: str, n: int, model: str, run: str) -> dict[str, Any]:
    identities = callers(kind, n, run)
    chats = [one_send(identity, model, None, None) for identity in identities]  # each caller's chat
    steps: list[float] = []
    with counting() as queries:
        cpu = time.process_time()
        wall = time.perf_counter()
        for identity, chat in zip(identities, chats, strict=True):
            one_send(identity, model, chat, steps)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per_step = {name: round(statistics.mean(steps[i :: len(STEPS)]) * 1000, 2) for i, name in enumerate(STEPS)}
    return {
        "caller": kind,
        "model": model,
        "sends": n,
        "queries_per_send": round(queries.count / n, 1),
        "cpu_ms_per_send": round(cpu / n * 1000, 2),
        "wall_ms_per_send": round(wall / n * 1000, 2),
        "cpu_ms_by_step": per_step,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sends", type=int, default=200, help="measured sends per kind of caller (default 200)")
    parser.add_argument("--database-url", default="", help="a scratch PostgreSQL database (default: temporary SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="chatsite-send-cost-") as scratch:
        setup(args.database_url or f"sqlite:///{scratch}/bench.sqlite3")
        from messaging.models import LanguageModel

        LanguageModel.objects.update_or_create(
            name="bench-paid",
            defaults={"provider": "openai", "input_price": Decimal("1"), "output_price": Decimal("2")},
        )
        run = f"{os.getpid():x}{int(time.time()) % 100000:x}"
        results = [measure("guest", args.sends, "echo", run), measure("user", args.sends, "bench-paid", run)]
    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"| {database}: one send, sequential | queries | CPU ms | wall ms | CPU ms: " + " / ".join(STEPS) + " |")
    print("|---|---:|---:|---:|---|")
    for result in results:
        steps = " / ".join(f"{value:.2f}" for value in result["cpu_ms_by_step"].values())
        print(
            f"| {result['caller']} ({result['model']}) | {result['queries_per_send']} | {result['cpu_ms_per_send']} "
            f"| {result['wall_ms_per_send']} | {steps} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
