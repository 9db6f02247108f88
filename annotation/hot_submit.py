"""A judgment submit in one round trip to PostgreSQL.

Why: under a crowd launch a submit is most of the server's work, and the ORM path
(`services._record`: BEGIN, lock the lease, read the next entries, INSERT, maybe the lease
rows, COMMIT) is six round trips and the ORM's compiling of each. Here the same steps go to
PostgreSQL as one query string of two statements, which PostgreSQL runs as one implicit
transaction (the simple query protocol; Django's psycopg cursor binds parameters on the
client, so it sends them that way):

1. the lease lock: the live assignment's slot row, ``FOR UPDATE OF b`` (hot_path's
   `live_assignment_from`, as the ORM path's lock);
2. one statement that reads the live lease and the next two entries again (after the lock:
   in READ COMMITTED each statement has its own snapshot, so a concurrent submit of the
   same participant that committed while statement 1 waited is seen), inserts the judgment
   when the entry sent is the one expected, and in data-modifying CTEs marks the assignment
   and slot completed (the last entry) or renews the lease (`assignment.lease_renewal`,
   whose threshold and new expiry are computed in Python and passed in).

Either all of it happens or nothing (an error rolls the implicit transaction back: the
unique indexes on assignment × entry and on the idempotency key stay the backstops).
Whenever nothing was inserted — no live lease, a finished batch, not the expected item —
`record` returns None and the caller takes the ORM path, which finds the reason and refuses
(or, when the situation changed in between, stores): refusals are rare and need no speed.
The rules themselves live once: "the live lease" and "what comes next" are hot_path's SQL
builders, the lease rule is `assignment.lease_renewal`, the answers are cleaned before.

Used on PostgreSQL with client-side binding only (`available`); SQLite and a
server-binding cursor take the ORM path. Inside an outer transaction (tests, a caller's
atomic block) the string runs in a savepoint, so a failure leaves the outer one usable.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from . import hot_path, prepared
from .assignment import lease_renewal
from .models import Assignment, BatchEntry, BatchSlot, Judgment, Participant

# Judgment columns taken from the statement's own rows rather than from parameters.
_FROM_ROWS = {
    "assignment": "live.assignment_id",
    "batch": "live.batch_id",
    "slot": "live.slot_id",
    "entry": "x.id",
    "item": "x.item_id",
    "position": "x.position",
}

_FIELDS = {f.attname: f for f in Judgment._meta.concrete_fields}
_sql: dict[str, tuple[str, list[str]]] = {}


def available() -> bool:
    """PostgreSQL with Django's client-binding cursor (the default): multi-statement strings."""
    if connection.vendor != "postgresql":
        return False
    import psycopg

    connection.ensure_connection()
    return issubclass(connection.connection.cursor_factory, psycopg.ClientCursor)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _statement() -> tuple[str, list[str]]:
    """(the SQL, the Judgment fields passed as parameters, in order). Built once."""
    if "submit" in _sql:
        return _sql["submit"]
    a_table, b_table = _q(Assignment._meta.db_table), _q(BatchSlot._meta.db_table)
    columns, values, params = [], [], []
    for field in Judgment._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(_q(str(field.column)))
        if field.name in _FROM_ROWS:
            values.append(_FROM_ROWS[field.name])
        else:
            # Cast: a bare literal in a SELECT list would be text, not the column's type.
            values.append(f"CAST(%s AS {field.db_type(connection)})")
            params.append(field.attname)
    live = hot_path.live_assignment_from(
        f"a.{_q('id')} AS assignment_id, b.{_q('id')} AS slot_id, "
        f"b.{_q('batch_id')} AS batch_id, b.{_q('lease_expires_at')} AS expires"
    )
    upcoming = hot_path.upcoming_select(
        "live.batch_id", "live.assignment_id", join=" JOIN live ON TRUE"
    )
    lock = hot_path.live_assignment_from(f"b.{_q('id')}") + " FOR UPDATE OF b"
    live_a = "(SELECT assignment_id FROM live)"
    live_b = "(SELECT slot_id FROM live)"
    sql = (
        f"{lock}; "
        f"WITH live AS ({live}), "
        f"upcoming AS ({upcoming} LIMIT 2), "
        "expected AS (SELECT * FROM upcoming ORDER BY position LIMIT 1), "
        f"stored AS (INSERT INTO {_q(Judgment._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM live JOIN expected x ON x.id = %s RETURNING id), "
        "last AS (SELECT 1 FROM stored WHERE (SELECT count(*) FROM upcoming) = 1), "
        f"assignment_done AS (UPDATE {a_table} SET {_q('status')} = "
        f"'{Assignment.Status.COMPLETED}', {_q('completed_at')} = CAST(%s AS timestamptz) "
        f"WHERE {_q('id')} = {live_a} AND EXISTS (SELECT 1 FROM last) RETURNING 1), "
        f"slot_done AS (UPDATE {b_table} SET {_q('state')} = '{BatchSlot.State.COMPLETED}', "
        f"{_q('lease_expires_at')} = NULL "
        f"WHERE {_q('id')} = {live_b} AND EXISTS (SELECT 1 FROM last) RETURNING 1), "
        "renew AS (SELECT 1 FROM stored WHERE (SELECT count(*) FROM upcoming) > 1 "
        "AND (SELECT expires FROM live) < CAST(%s AS timestamptz)), "
        f"slot_renewed AS (UPDATE {b_table} SET {_q('lease_expires_at')} = "
        f"CAST(%s AS timestamptz) WHERE {_q('id')} = {live_b} "
        "AND EXISTS (SELECT 1 FROM renew) RETURNING 1), "
        f"assignment_renewed AS (UPDATE {a_table} SET {_q('lease_expires_at')} = "
        f"CAST(%s AS timestamptz) WHERE {_q('id')} = {live_a} "
        "AND EXISTS (SELECT 1 FROM renew) RETURNING 1) "
        "SELECT (SELECT id FROM stored), live.assignment_id, live.slot_id, live.batch_id, "
        "u.id, u.position, u.item_id, u.block_index "
        "FROM live JOIN upcoming u ON TRUE ORDER BY u.position"
    )
    _sql["submit"] = (sql, params)
    lock_sql, main_sql = sql.split("; ", 1)
    # The same two statements, prepared once per pooled connection (annotation/prepared.py).
    _sql["execute"] = (
        prepared.register(_PREPARED + "_lock", lock_sql)
        + "; "
        + prepared.register(_PREPARED, main_sql),
        params,
    )
    return _sql["submit"]


# PostgreSQL plans a statement on every simple-protocol query; for the submit's that was
# most of the database's time of a submit, so with the pool it is prepared (prepared.py).
_PREPARED = "evalsite_submit_v1"


def _run(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with_prepared = prepared.uses_prepared()
    text = _sql["execute"][0] if with_prepared else sql

    def send(cursor: Any) -> list[tuple[Any, ...]]:
        cursor.execute(text, params)
        cursor.nextset()  # past the lock's row
        return cursor.fetchall()

    if with_prepared:
        return prepared.run((_PREPARED + "_lock", _PREPARED), send)
    # In autocommit the query string is its own transaction.
    with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
        with connection.cursor() as cursor:
            return send(cursor)


def record(
    participant: Participant,
    *,
    entry_id: int,
    fields: dict[str, Any],
    now: datetime,
    with_next: bool,
) -> tuple[Judgment, bool, BatchEntry | None] | None:
    """Store the judgment of `entry_id` if it is the entry the participant's live lease
    expects: (the judgment, whether it completed the batch, the next entry for display when
    `with_next`), or None when nothing was stored (the caller's ORM path says why).

    `fields`: the Judgment's values not taken from the lease, by attribute name (values,
    rationales, times, idempotency key, study_id and participant_id), already cleaned."""
    sql, names = _statement()
    study = participant.study
    threshold, renewed = lease_renewal(study, now)
    prepared = [
        field.get_db_prep_save(fields.get(field.attname, field.get_default()), connection)
        for field in (_FIELDS[name] for name in names)
    ]
    params = [
        participant.id,
        participant.id,  # the lock
        participant.id,
        participant.id,  # live
        *prepared,
        entry_id,
        now,
        threshold,
        renewed,
        renewed,
    ]
    rows = _run(sql, params)
    if not rows or rows[0][0] is None:
        return None
    judgment_id, assignment_id, slot_id, batch_id = rows[0][:4]
    upcoming = [row[4:] for row in rows]
    completed = len(upcoming) == 1
    judgment = Judgment(
        id=judgment_id,
        assignment_id=assignment_id,
        slot_id=slot_id,
        batch_id=batch_id,
        entry_id=upcoming[0][0],
        item_id=upcoming[0][2],
        position=upcoming[0][1],
        **fields,
    )
    judgment._state.adding = False
    judgment._state.db = connection.alias
    following = None
    if with_next and not completed:
        shown = hot_path.shown_entries(study, batch_id)
        following = shown.get(upcoming[1][0])
    return judgment, completed, following
