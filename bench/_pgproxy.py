"""A TCP proxy between the server and PostgreSQL that counts what the server asks of the database.

It reads only the frontend (client -> server) half of the PostgreSQL wire protocol, message headers only, and
copies both directions through unchanged. What it counts:

- a simple-protocol ``Query`` ('Q') is one statement and one round trip (several statements in one string
  count once: the server sends none such);
- in the extended protocol (psycopg's for any statement with parameters) every ``Execute`` ('E') is a
  statement, and every ``Sync`` ('S') a round trip: the client waits for ``ReadyForQuery`` there, so a
  pipeline of several statements before one Sync is one round trip;
- every accepted TCP connection is a connection opened by the server (its start-up and authentication are
  extra round trips, not counted above).

A simple Query whose text starts with BEGIN, COMMIT, ROLLBACK, SAVEPOINT or RELEASE is also counted as
transaction control, so that "statements other than transaction control" can be set beside what Django's
execute wrapper counts (``bench/send_cost.py``), which sees none of those on PostgreSQL. The start of the text
of every Query and every Parse is counted too, to show which statements a send makes (a statement prepared
once and executed again on the same connection is Bound and Executed without a new Parse, so it shows once).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START TRANSACTION", "END")
TEXT = 160  # bytes of a statement's text kept to tell statements apart
LITERALS = re.compile(r"'(?:[^']|'')*(?:'|$)|(?<![\w$])\d+(?:\.\d+)?\b")  # inlined values (client-side binding)


@dataclass
class Counts:
    connections: int = 0
    messages: Counter[str] = field(default_factory=Counter)  # by message type
    transaction_control: int = 0
    texts: Counter[str] = field(default_factory=Counter)  # the start of each Query's or Parse's SQL

    @property
    def statements(self) -> int:
        return self.messages["Q"] + self.messages["E"]

    @property
    def round_trips(self) -> int:
        return self.messages["Q"] + self.messages["S"]

    def snapshot(self) -> dict[str, Any]:
        return {
            "texts": self.texts.copy(),
            "connections": self.connections,
            "statements": self.statements,
            "round_trips": self.round_trips,
            "transaction_control": self.transaction_control,
            "messages": sum(self.messages.values()),
        }


class FrontendParser:
    """Walks the client's byte stream message by message, however TCP cut it, and counts the messages."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.buffer = bytearray()
        self.skip = 0  # bytes of a long message body still to come, not kept
        self.in_startup = True  # before the StartupMessage, messages have no type byte

    def feed(self, data: bytes) -> None:
        if self.skip:
            taken = min(self.skip, len(data))
            self.skip -= taken
            data = data[taken:]
        self.buffer += data
        while self._one():
            pass

    def _one(self) -> bool:
        """Count the message at the start of the buffer; False when more bytes are needed."""
        if self.in_startup:
            if len(self.buffer) < 8:
                return False
            total = int.from_bytes(self.buffer[0:4], "big")
            code = int.from_bytes(self.buffer[4:8], "big")
            self.in_startup = code in (SSL_REQUEST, GSSENC_REQUEST)  # answered with one byte, then the real one
            return self._consume(total)
        if len(self.buffer) < 5:
            return False
        kind, total = chr(self.buffer[0]), 1 + int.from_bytes(self.buffer[1:5], "big")
        if kind in "QP":
            if len(self.buffer) < min(total, 5 + TEXT):
                return False
            self._text(kind, bytes(self.buffer[5 : min(total, 5 + TEXT)]))
        self.counts.messages[kind] += 1
        return self._consume(total)

    def _text(self, kind: str, body: bytes) -> None:
        if kind == "P":
            body = body.partition(b"\0")[2]  # after the prepared statement's name
        text = LITERALS.sub("?", " ".join(body.partition(b"\0")[0].decode(errors="replace").split()))
        if kind == "Q" and text.upper().startswith(TRANSACTION_CONTROL):
            self.counts.transaction_control += 1
        self.counts.texts[text] += 1

    def _consume(self, total: int) -> bool:
        if len(self.buffer) >= total:
            del self.buffer[:total]
            return True
        self.skip = total - len(self.buffer)
        self.buffer.clear()
        return False


class PgProxy:
    """Listens on a free local port and forwards every connection to PostgreSQL, counting as it goes."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.counts = Counts()
        self.server: asyncio.Server | None = None
        self.listen_port = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.listen_port = int(self.server.sockets[0].getsockname()[1])
        return self.listen_port

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 5)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.counts.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            client_writer.close()
            return
        parser = FrontendParser(self.counts)
        try:
            await asyncio.gather(
                _pump(client_reader, server_writer, parser.feed),
                _pump(server_reader, client_writer, None),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            # The run is ending (its event loop cancels what is left): a connection cut then is no error, and
            # a connection task that ends cancelled makes asyncio log a traceback for nothing.
            server_writer.close()
            client_writer.close()


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, inspect: Callable[[bytes], None] | None
) -> None:
    """Copy one direction until it ends, then close the other side's writer."""
    try:
        while data := await reader.read(65536):
            if inspect is not None:
                inspect(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
