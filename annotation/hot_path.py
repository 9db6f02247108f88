"""The annotator's hot path in hand-written SQL: who is asking, their locked lease, what next.

Every submit and every item page reads the participant with their study, (on a submit) locks
the lease, and asks "which entries of this batch has this assignment not judged yet?". These
three reads are written here by hand, their SQL built once per process and database, because
on this path Django's query compiler cost more than the database did (bench/RESULTS.md:
about two thirds of the time of each query; these three were most of a judgment's cost). The
SQL is plain (joins, NOT EXISTS, LIMIT) and runs alike on SQLite and PostgreSQL; rows become
model instances through `Model.from_db` with each field's database converters, as the ORM
itself does, so callers get ordinary instances. Everything else stays in the ORM.

What an entry shows — its item, the conversation, the candidates, the batch's length — never
changes once a study exists (the spec and its items are frozen at creation), so it is read
once per batch and process and kept in a bounded cache. The key holds the study's creation
time and spec hash besides the batch id, so a batch id reused after a rollback (tests, a
restored database) never finds another study's entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from django.db import connection
from django.db.models import Model

from . import prepared
from .dimensions import DimensionBase, dimensions_of
from .models import Assignment, BatchEntry, BatchSlot, ItemSkip, Judgment, Participant, Study

# Batches whose display is kept per process: a batch's entries are a few KB, and the busiest
# moment of a launch touches a few hundred batches.
CACHE_BATCHES = 512

_cache: OrderedDict[tuple[Any, ...], dict[int, BatchEntry]] = OrderedDict()
_cache_lock = threading.Lock()
_sql: dict[str, str] = {}


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _column(field: Any) -> str:
    if field.column is None:  # pragma: no cover - a concrete field always has its column
        raise ValueError(f"{field} has no database column")
    return field.column


def _columns(model: type[Model], alias: str) -> str:
    return ", ".join(f"{alias}.{_q(_column(f))}" for f in model._meta.concrete_fields)


_converters: dict[tuple[Any, ...], list[list[Any]]] = {}

# Never read on the annotator's path: the spec as written and the design report are loaded
# only where asked for (Django's deferred fields), so a request does not carry them.
_STUDY_DEFERRED = ("spec_source", "design_report")


def _fields(model: type[Model], leave_out: tuple[str, ...] = ()) -> list[Any]:
    return [f for f in model._meta.concrete_fields if f.name not in leave_out]


def _instance(
    model: type[Model], values: tuple[Any, ...] | list[Any], leave_out: tuple[str, ...] = ()
) -> Model:
    """A model instance from its concrete columns' raw values, converted as the ORM does
    (`leave_out`: fields not selected, deferred on the instance)."""
    fields = _fields(model, leave_out)
    key = (model, leave_out, connection.vendor)
    if key not in _converters:  # the converters of each column, looked up once per process
        table = model._meta.db_table
        _converters[key] = [
            connection.ops.get_db_converters(f.get_col(table)) + f.get_db_converters(connection)
            for f in fields
        ]
    converted = []
    for field, converters, value in zip(fields, _converters[key], values, strict=True):
        column = field.get_col(model._meta.db_table) if converters else None
        for convert in converters:
            value = convert(value, column, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


# The parsed spec of each study a process serves, by (study id, created_at, spec_hash): a
# spec never changes under the same hash, and a spec can be large (its instructions), so a
# request reads and parses it only when this process has not yet.
_specs: dict[tuple[Any, ...], Any] = {}
_last_spec_key: dict[str, tuple[Any, ...]] = {}


def study_key(study: Any) -> tuple[Any, ...]:
    """What identifies a study's frozen content in this process's caches: its id with its
    creation time and spec hash, so an id reused after a rollback (tests, a restored
    database) or a changed spec never finds another study's entries or pages."""
    return (study.id, study.created_at, study.spec_hash)


_dimension_types: dict[tuple[Any, ...], list[DimensionBase]] = {}


def dimension_types(study: Any) -> list[DimensionBase]:
    """The study's dimensions parsed (`dimensions.dimensions_of`: pydantic's validation of
    each), once per process and spec rather than for each form of each request. Shared,
    read-only instances."""
    key = study_key(study)
    found = _dimension_types.get(key)
    if found is None:
        if len(_dimension_types) >= CACHE_BATCHES:
            _dimension_types.clear()
        found = _dimension_types[key] = dimensions_of(study.dimensions)
    return found


def _participant_sql() -> str:
    key = "participant:" + connection.vendor
    if key not in _sql:
        study = []
        for f in _fields(Study, _STUDY_DEFERRED):
            column = f"s.{_q(_column(f))}"
            if f.name == "spec":  # NULL when the caller holds this spec already (parameters 1-2)
                column = (
                    f"CASE WHEN s.{_q('id')} = %s AND s.{_q('spec_hash')} = %s "
                    f"THEN NULL ELSE {column} END"
                )
            study.append(column)
        _sql[key] = (
            f"SELECT {_columns(Participant, 'p')}, {', '.join(study)} "
            f"FROM {_q(Participant._meta.db_table)} p "
            f"JOIN {_q(Study._meta.db_table)} s ON s.{_q('id')} = p.{_q('study_id')} "
            f"WHERE s.{_q('name')} = %s AND p.{_q('external_id')} = %s LIMIT 1"
        )
        if connection.vendor == "postgresql":  # with the pool, prepared (prepared.py)
            _sql["participant-execute"] = prepared.register(_PARTICIPANT, _sql[key])
    return _sql[key]


_PARTICIPANT = "evalsite_participant_v1"


def _fetch_participant_row(params: list[Any]) -> tuple[Any, ...] | None:
    sql = _participant_sql()
    if prepared.uses_prepared():
        text = _sql["participant-execute"]

        def fetch(cursor: Any) -> tuple[Any, ...] | None:
            cursor.execute(text, params)
            return cursor.fetchone()

        return prepared.run((_PARTICIPANT,), fetch)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def participant_with_study(study_name: str, external_id: str) -> Participant | None:
    """The study's participant with this external id, their study loaded (its spec shared
    per process and read-only; spec_source and design_report deferred): one statement."""
    held = _last_spec_key.get(study_name)
    row = _fetch_participant_row(
        [held[0] if held else -1, held[2] if held else "", study_name, external_id]
    )
    if row is None:
        return None
    n = len(Participant._meta.concrete_fields)
    participant = _instance(Participant, row[:n])
    study: Any = _instance(Study, row[n:], _STUDY_DEFERRED)
    key = study_key(study)
    if study.spec is None:  # this process holds it (never NULL in the table)
        spec = _specs.get(key) if key == held else None
        if spec is None:  # dropped meanwhile, or another study under a reused id: read it
            _last_spec_key.pop(study_name, None)
            return participant_with_study(study_name, external_id)
        study.spec = spec
    else:
        if len(_specs) >= CACHE_BATCHES:
            _specs.clear()
        _specs[key] = study.spec
        _last_spec_key[study_name] = key
    participant.study = study  # type: ignore[attr-defined]
    return participant  # type: ignore[return-value]


def live_assignment_from(select: str) -> str:
    """`SELECT <select> FROM` the participant's active assignment (alias a) joined to its
    slot (alias b), still leased to them: two parameters, the participant id twice (with
    the statuses written in). The one definition of "the live lease" a submit works on."""
    return (
        f"SELECT {select} "
        f"FROM {_q(Assignment._meta.db_table)} a "
        f"JOIN {_q(BatchSlot._meta.db_table)} b ON b.{_q('id')} = a.{_q('slot_id')} "
        f"WHERE a.{_q('participant_id')} = %s AND a.{_q('status')} = '{Assignment.Status.ACTIVE}' "
        f"AND b.{_q('state')} = '{BatchSlot.State.LEASED}' AND b.{_q('participant_id')} = %s "
        "LIMIT 1"
    )


def _locked_sql() -> str:
    key = "locked:" + connection.vendor
    if key not in _sql:
        lock = " FOR UPDATE OF b" if connection.features.has_select_for_update_of else ""
        columns = f"{_columns(Assignment, 'a')}, {_columns(BatchSlot, 'b')}"
        _sql[key] = live_assignment_from(columns) + lock
    return _sql[key]


def locked_live_assignment(participant: Participant) -> Assignment | None:
    """The participant's active assignment with its slot, the slot row locked (PostgreSQL;
    SQLite serialises write transactions): one statement. See
    `assignment.locked_live_assignment` for why only the slot is locked and why its state is
    in the WHERE clause."""
    with connection.cursor() as cursor:
        cursor.execute(_locked_sql(), [participant.id, participant.id])
        row = cursor.fetchone()
    if row is None:
        return None
    n = len(Assignment._meta.concrete_fields)
    live = _instance(Assignment, row[:n])
    live.slot = _instance(BatchSlot, row[n:])  # type: ignore[attr-defined]
    return live  # type: ignore[return-value]


def upcoming_select(batch: str, assignment: str, *, join: str = "") -> str:
    """`SELECT` (entry id, position, item id, block index) of the batch's entries not yet
    judged nor skipped in the assignment, in batch order — `batch` and `assignment` are SQL
    expressions (a parameter or a joined column), `join` more FROM items they refer to; the
    caller appends the LIMIT. The one definition of "what comes next"."""
    return (
        f"SELECT e.{_q('id')}, e.{_q('position')}, e.{_q('item_id')}, e.{_q('block_index')} "
        f"FROM {_q(BatchEntry._meta.db_table)} e{join} "
        f"WHERE e.{_q('batch_id')} = {batch} AND NOT EXISTS ("
        f"SELECT 1 FROM {_q(Judgment._meta.db_table)} j "
        f"WHERE j.{_q('assignment_id')} = {assignment} AND j.{_q('entry_id')} = e.{_q('id')}) "
        # Skipped entries (annotation/safety.py) are passed over like judged ones.
        f"AND NOT EXISTS (SELECT 1 FROM {_q(ItemSkip._meta.db_table)} k "
        f"WHERE k.{_q('assignment_id')} = {assignment} AND k.{_q('entry_id')} = e.{_q('id')}) "
        f"ORDER BY e.{_q('position')}"
    )


def _upcoming_sql() -> str:
    key = "upcoming:" + connection.vendor
    if key not in _sql:
        _sql[key] = upcoming_select("%s", "%s") + " LIMIT %s"
    return _sql[key]


def upcoming_rows(assignment: Assignment, limit: int) -> list[tuple[int, int, int, int]]:
    """(entry id, position, item id, block index) of the entries not yet judged (nor
    skipped) in this assignment, in batch order, at most `limit`: one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            _upcoming_sql(), [assignment.slot.batch_id, assignment.id, assignment.id, limit]
        )
        return [tuple(row) for row in cursor.fetchall()]


def _load(batch_id: int) -> dict[int, BatchEntry]:
    entries = list(
        BatchEntry.objects.filter(batch_id=batch_id).select_related(
            "item__context", "item__candidate", "item__candidate_b"
        )
    )
    for entry in entries:
        entry.batch_length = len(entries)  # type: ignore[attr-defined]
    return {entry.id: entry for entry in entries}


def shown_entries(study: Any, batch_id: int) -> dict[int, BatchEntry]:
    """entry id → the entry with its item, context and candidates and ``batch_length``.

    Shared, read-only instances: callers must not change them."""
    key = (batch_id, *study_key(study))
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
    loaded = _load(batch_id)
    with _cache_lock:
        _cache[key] = loaded
        while len(_cache) > CACHE_BATCHES:
            _cache.popitem(last=False)
    return loaded


def clear() -> None:
    with _cache_lock:
        _cache.clear()
    _specs.clear()
    _last_spec_key.clear()
    _dimension_types.clear()


def next_entries(assignment: Assignment, limit: int = 1, *, study: Any = None) -> list[BatchEntry]:
    """The entries the server expects next, in order. With `study`, each comes ready for
    display (item, context, candidates, ``batch_length``; cached per batch); without it,
    light instances with id, batch, position and item id (what a submit stores)."""
    rows = upcoming_rows(assignment, limit)
    if study is None:
        batch_id = assignment.slot.batch_id
        return [
            BatchEntry(id=i, batch_id=batch_id, position=p, item_id=item, block_index=b)
            for i, p, item, b in rows
        ]
    shown = shown_entries(study, assignment.slot.batch_id)
    if any(row[0] not in shown for row in rows):  # pragma: no cover - entries never change
        clear()
        shown = shown_entries(study, assignment.slot.batch_id)
    return [shown[row[0]] for row in rows]
