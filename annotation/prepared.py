"""Statements of the annotator's hot path prepared once per pooled PostgreSQL connection.

Why: PostgreSQL parses and plans every statement sent through the simple query protocol
(Django's psycopg cursor binds parameters on the client, so it sends them that way); for the
hot path's statements planning cost more than running them (bench/RESULTS.md). SQL's
PREPARE / EXECUTE keep the simple protocol — one query string may hold several statements,
run as one implicit transaction — and plan once per connection. A prepared statement lives
as long as its connection, so this needs connections that live across requests: the pool
(`uses_prepared`). Without it (EVALSITE_DB_POOL=0, e.g. behind PgBouncer in transaction
mode, where a session's prepared statements do not follow it) callers send the plain SQL.

A statement dropped behind our back (DEALLOCATE, DISCARD ALL) makes EXECUTE fail with an
error naming it; `run` then prepares again and retries once. Inside an outer transaction the
attempt runs in a savepoint, so a failure leaves the outer one usable.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from typing import Any

from django.db import ProgrammingError, connection, transaction

# name -> its PREPARE statement, registered as the callers build their SQL
_statements: dict[str, str] = {}
# raw connection -> the names known to be prepared on it
_prepared_on: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def uses_prepared() -> bool:
    return connection.vendor == "postgresql" and bool(
        connection.settings_dict.get("OPTIONS", {}).get("pool")
    )


def numbered(sql: str) -> str:
    """`sql` with its %s placeholders as PREPARE's $1, $2, …"""
    parts = sql.split("%s")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


def register(name: str, sql: str) -> str:
    """Register `sql` (with %s placeholders) under `name`; its EXECUTE text, with one %s
    per parameter, for the caller's query string."""
    _statements[name] = f"PREPARE {name} AS {numbered(sql)}"
    return f"EXECUTE {name}({', '.join(['%s'] * sql.count('%s'))})"


def _ensure(cursor: Any, names: tuple[str, ...]) -> None:
    done = _prepared_on.setdefault(connection.connection, set())
    missing = [n for n in names if n not in done]
    if not missing:
        return
    cursor.execute("SELECT name FROM pg_prepared_statements WHERE name = ANY(%s)", [missing])
    there = {name for (name,) in cursor.fetchall()}
    for name in missing:
        if name not in there:
            cursor.execute(_statements[name])
    done.update(missing)


def run(names: tuple[str, ...], use: Callable[[Any], Any]) -> Any:
    """`use(cursor)` once the statements `names` are prepared on this connection: it sends
    their EXECUTE texts. Prepared again and retried once if they were dropped."""
    for attempt in (1, 2):
        try:
            with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
                with connection.cursor() as cursor:
                    _ensure(cursor, names)
                    return use(cursor)
        except ProgrammingError as error:
            if attempt == 2 or not any(name in str(error) for name in names):
                raise
            _prepared_on.pop(connection.connection, None)
    raise AssertionError("unreachable")  # pragma: no cover


def forget() -> None:
    """Forget what was prepared (tests that drop statements behind the cache's back)."""
    _prepared_on.clear()
