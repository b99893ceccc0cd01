"""The printed summary of a ``capacity.py`` run (the JSON result has everything; this is what a reader needs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SEND_KINDS = (("continue", "continuing a chat"), ("new_chat", "a new chat"), ("first_send", "a new guest's first"))


def _num(value: Any, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _top(by_command: dict[str, float], most: int = 5) -> str:
    ranked = sorted(by_command.items(), key=lambda item: -item[1])[:most]
    return ", ".join(f"{name} {calls:g}" for name, calls in ranked)


def _send_row(what: str, phases: list[dict[str, Any]], cell: Callable[[dict[str, Any]], str]) -> str:
    return f"| {what} | " + " | ".join(cell(phase) for phase in phases) + " |"


def _postgres(phase: dict[str, Any], key: str) -> str:
    pg = phase.get("postgres_per_send")
    return f"{pg[key]:g}" if pg else "n/a"


def send_rows(sends: dict[str, Any]) -> list[str]:
    phases = [sends[key] for key, _ in SEND_KINDS]
    rows = [
        "| per send | " + " | ".join(what for _, what in SEND_KINDS) + " |",
        "|---|---:|---:|---:|",
        _send_row("**server CPU**", phases, lambda p: f"**{p['worker_cpu_ms_per_send']:.1f} ms**"),
        _send_row("PostgreSQL statements", phases, lambda p: _postgres(p, "statements")),
        _send_row("of them BEGIN/COMMIT/SAVEPOINT…", phases, lambda p: _postgres(p, "transaction_control")),
        _send_row("PostgreSQL round trips", phases, lambda p: _postgres(p, "round_trips")),
        _send_row("PostgreSQL connections opened", phases, lambda p: _postgres(p, "connections")),
        _send_row("Redis commands", phases, lambda p: f"{p.get('redis_commands_per_send', 'n/a')}"),
        _send_row(
            f"request to end of stream, p50 / p99 ({sends['concurrency']} at a time)",
            phases,
            lambda p: f"{p['send_ms']['p50']:.0f} / {p['send_ms']['p99']:.0f} ms",
        ),
        _send_row("sends, sends/s, errors", phases, lambda p: f"{p['sends']}, {p['sends_per_s']:g}/s, {p['errors']}"),
    ]
    if "redis_per_send_by_command" in phases[0]:
        rows.append(f"\nRedis commands of a send continuing a chat: {_top(phases[0]['redis_per_send_by_command'], 8)}")
    return [*rows, ""]


def statement_rows(sends: dict[str, Any]) -> list[str]:
    """What the database is asked for a send, by the start of each statement's text (``--show-statements``)."""
    rows = []
    for key, what in SEND_KINDS[:2]:
        texts = sends[key].get("statements_per_send")
        if texts:
            rows += [f"statements per send, {what}:", *(f"  {n:5.2f}  {text}" for text, n in texts.items()), ""]
    return rows


def token_rows(tokens: dict[str, Any]) -> list[str]:
    nominal = tokens.get("tokens_per_s_nominal")
    rows = [
        f"| CPU per streamed token | **{_num(tokens['worker_cpu_us_per_token'])} µs** "
        f"({tokens['streams']} streams, {tokens['tokens']} tokens in {tokens['streaming_s']} s: "
        f"{tokens['tokens_per_s']:g} tokens/s" + (f" of a nominal {nominal}" if nominal else "") + "; "
        f"{tokens['cost']['workers_cpu_s']:.2f} s of worker CPU less {tokens['streams']} sends at "
        f"{tokens['send_cost_ms_subtracted']} ms; {tokens['tokens_per_delta']} tokens per delta event) |"
    ]
    if nominal and tokens["tokens_per_s"] < 0.8 * nominal:
        rows.append(
            "| (note) | the tokens came slower than the fake was asked for: the machine is busy, and the server "
            "handles tokens that arrive together more cheaply, so this CPU per token is on the low side |"
        )
    if "redis_commands_per_answer" in tokens:
        rows.append(
            f"| Redis commands per streamed answer | {tokens['redis_commands_per_answer']:g} "
            f"({tokens['redis_commands_per_second_per_stream']:g} per second of stream; "
            f"{_top(tokens['redis_per_answer_by_command'])}) |"
        )
    return rows


def burst_rows(burst: dict[str, Any]) -> list[str]:
    d, s, a = burst["direct"], burst["server"], burst["added"]
    n = burst["streams"]
    return [
        f"| burst of {n}: first token p50 / p99 | **{_num(s['first_token_ms']['p50'], 0)} / "
        f"{_num(s['first_token_ms']['p99'], 0)} ms** (direct: {_num(d['first_token_ms']['p99'], 0)} ms p99) |",
        f"| burst of {n}: added token latency p50 / p99 | **{a['p50_ms']:.2f} / {a['p99_ms']:.2f} ms** "
        f"(through the server {s['p99_ms']:.2f}, direct {d['p99_ms']:.2f} ms p99; "
        f"{s['tokens']} tokens, {s['errors'] + d['errors']} errors) |",
    ]


def capacity_rows(capacity: dict[str, Any]) -> list[str]:
    bound = capacity["bound_p99_added_ms"]
    rows = [
        "",
        f"Concurrent-stream capacity of one worker (added p99 ≤ {bound:g} ms): "
        f"**{capacity['streams_held']} streams** ({capacity['search_ended']})",
        "",
        "| streams | added p50 | added p99 | (direct p99) | first token p50 | first token p99 | worker CPU "
        "| CPU per token | fake | client | redis | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for step in capacity["steps"]:
        rows.append(
            f"| {step['streams']} | {step['added_p50_ms']:.2f} ms | {step['added_p99_ms']:.2f} ms "
            f"| {step['direct']['p99_ms']:.2f} ms "
            f"| {_num(step['first_token_p50_ms'], 0)} ms | {_num(step['first_token_p99_ms'], 0)} ms "
            f"| {step['worker_cpu_pct']:.0f}% | {_num(step.get('worker_cpu_us_per_token'), 0)} µs "
            f"| {step['upstream_cpu_pct']:.0f}% | {step['client_cpu_pct']:.0f}% "
            f"| {_num(step['redis_cpu_pct'], 0)}{'%' if step['redis_cpu_pct'] is not None else ''} | {step['errors']} |"
        )
    return rows


def report(result: dict[str, Any], statements: bool = False) -> None:
    rows = [f"{result['layout']}, {result['workers']} worker(s)", ""]
    if "sends" in result:
        rows += send_rows(result["sends"]) + (statement_rows(result["sends"]) if statements else [])
    if "tokens" in result or "burst" in result:
        rows += ["| per token, per answer, per burst | |", "|---|---|"]
    if "tokens" in result:
        rows += token_rows(result["tokens"])
    if "burst" in result:
        rows += burst_rows(result["burst"])
    if "capacity" in result:
        rows += capacity_rows(result["capacity"])
    print()
    print("\n".join(rows))
    print()
    box, code = result["machine"], result["code"]
    print(f"phase seconds: {result['phase_seconds']}; idle workers: {result['idle_workers_cpu_per_s']} CPU s/s")
    print(
        f"machine: {box['nproc']} CPUs, 1-minute load average {box['loadavg_1m_before']:.2f} before, "
        f"{box['loadavg_1m_after']:.2f} after; code: {code['commit']}"
        + (
            f" with uncommitted changes in {', '.join(code['uncommitted_changes'])}"
            if code["uncommitted_changes"]
            else ""
        )
    )
    print(f"errors (failed streams, all phases): {result['errors']}")
