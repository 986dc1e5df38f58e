"""Small helpers for queries on hot paths.

The ORM spends about 0.4 ms of Python compiling a query with joins that the database
answers in a twentieth of that, so the few reads nearly every API request or
registration makes (docs/internals.md lists them) are written as SQL once, beside
the function that runs them, and read through ``fetch_models`` / ``fetch_model`` or
``fetch_dicts``; everything else uses the ORM. A test holds each to what the ORM would
return. Parameters are adapted as the ORM adapts them (SQLite stores datetimes as
naive UTC text). Likewise ``insert`` writes the rows a registration creates (SMS,
invitation, verification, member, session, notification, audit entries) with one
INSERT per model built once, where ``save()`` compiles it every time, and ``update``
makes their hot UPDATEs the same way. ``written_together`` goes further: the rows an
action creates, and the changes whose row count it does not need (``update_later``),
go in as it ends, on PostgreSQL in one statement, whatever their tables; so can a
conditional change whose row count it checks afterwards (``update_later_counted``) and
a write of another shape (``execute_later``: a counter's upsert).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field, Model, QuerySet
from django.utils import timezone

M = TypeVar("M", bound=Model)


def _db() -> BaseDatabaseWrapper:
    """This thread's connection to the database: what ``django.db.connection`` stands
    for, without the look-up that proxy repeats on every attribute (a twentieth of a
    registration's Python went to it), here and in the ORM's field methods it is
    passed to."""
    return connections[DEFAULT_DB_ALIAS]


def unique_or_none(queryset: QuerySet[M]) -> M | None:
    """The row of a query that matches at most one (a unique key), or None.

    ``first()`` would add an ``ORDER BY`` for the database to ignore and Django to
    compile (a quarter of such a query's cost in Python); a slice asks for one row.
    """
    return next(iter(queryset[:1]), None)


def columns_of(model: type[Model], alias: str) -> str:
    """``alias.column, …`` for every concrete field of ``model``, in the order
    ``fetch_models`` reads them."""
    return ", ".join(f"{alias}.{field.column}" for field in model._meta.concrete_fields)


def locking(sql: str, *, of: str = "", skip_locked: bool = False) -> str:
    """``sql`` with ``FOR UPDATE`` (``OF`` the alias ``of``, ``SKIP LOCKED``) on
    PostgreSQL. SQLite has no row locks and needs none: its transactions take the
    database's write lock as they begin (``BEGIN IMMEDIATE``)."""
    if _db().vendor != "postgresql":
        return sql
    return f"{sql} FOR UPDATE{f' OF {of}' if of else ''}{' SKIP LOCKED' if skip_locked else ''}"


_INSERTS: dict[tuple[type[Model], str, int], tuple[str, list[Field[Any, Any]]]] = {}


def insert(instance: M) -> M:
    """Save a new ``instance`` with one INSERT whose SQL is built once per model: what
    ``save()`` does, for a sixth of the ORM's Python, minus the model's own ``save()``
    and signal receivers (none of the rows a registration writes has receivers; a
    member's own save() places it in the tree, which its inserter then does)."""
    return insert_all([instance])[0]


def insert_all(instances: Sequence[M]) -> list[M]:
    """``insert`` for several new rows of one model, in one statement (``bulk_create``
    without its compiling); they get their ids where the database returns them
    (PostgreSQL; SQLite from 3.35)."""
    db = _db()
    model = type(instances[0])
    meta = model._meta
    auto = meta.auto_field  # None where the key is given (a session's)
    for instance in instances:
        assert type(instance) is model, "insert_all() writes rows of one model"
        _check_new(instance)
    returning = auto is not None and db.features.can_return_columns_from_insert
    key = (model, db.vendor, len(instances))
    if key not in _INSERTS:
        head, fields = _insert_into(model)
        row = f"({', '.join(['%s'] * len(fields))})"
        sql = f"{head} VALUES {', '.join([row] * len(instances))}"
        if returning:
            sql += f" RETURNING {db.ops.quote_name(auto.column)}"  # type: ignore[union-attr]
        _INSERTS[key] = (sql, fields)
    sql, fields = _INSERTS[key]
    values = [value for instance in instances for value in _prepared(instance, fields)]
    with db.cursor() as cursor:
        cursor.execute(sql, values)
        if auto is None:
            pks = [instance.pk for instance in instances]
        elif returning:
            # Rows come back in the order of VALUES, as bulk_create also relies on.
            pks = [pk for (pk,) in cursor.fetchall()]
        elif len(instances) == 1:  # SQLite before 3.35
            pks = [db.ops.last_insert_id(cursor, meta.db_table, auto.column)]
        else:
            pks = [None] * len(instances)
    _saved(instances, pks)
    return list(instances)


_INSERT_INTO: dict[tuple[type[Model], str], tuple[str, list[Field[Any, Any]]]] = {}


def _insert_into(model: type[Model]) -> tuple[str, list[Field[Any, Any]]]:
    """``INSERT INTO table (columns)`` for a new row of ``model``, built once, and the
    fields of those columns: every concrete field but an id the database gives."""
    db = _db()
    key = (model, db.vendor)
    if key not in _INSERT_INTO:
        meta = model._meta
        quote = db.ops.quote_name
        fields = [field for field in meta.concrete_fields if field is not meta.auto_field]
        columns = ", ".join(quote(field.column) for field in fields)
        _INSERT_INTO[key] = (f"INSERT INTO {quote(meta.db_table)} ({columns})", fields)
    return _INSERT_INTO[key]


def _prepared(row: Model, fields: Sequence[Field[Any, Any]]) -> list[Any]:
    """The values ``save()`` would write for these fields of a new row."""
    db = _db()
    return [field.get_db_prep_save(field.pre_save(row, True), db) for field in fields]


def _saved(rows: Sequence[Model], pks: Sequence[Any]) -> None:
    db = _db()
    for row, pk in zip(rows, pks, strict=True):
        row.pk = pk
        row._state.adding = False
        row._state.db = db.alias


def _check_new(row: Model, *, but: Sequence[Field[Any, Any]] = ()) -> None:
    """What save() checks of a new row: refuse an unsaved related object, take a related
    object's id (but for the relations ``but``, to rows written in the same statement)."""
    assert row._state.adding, "insert() saves new rows only"
    assert (row.pk is None) == (row._meta.auto_field is not None), "an id comes from the database"
    pointed = {field: field.get_cached_value(row) for field in but}  # type: ignore[attr-defined]
    for field in pointed:
        field.delete_cached_value(row)  # type: ignore[attr-defined]
    row._prepare_related_fields_for_save(operation_name="insert")  # type: ignore[attr-defined]
    for field, related in pointed.items():
        field.set_cached_value(row, related)  # type: ignore[attr-defined]


@dataclass
class Changed:
    """How many rows an ``update_later_counted`` change changed: known once its
    ``written_together`` block has written (``None`` until then)."""

    rows: int | None = None


_UpdateKey = tuple[type[Model], str, tuple[Any, ...]]


@dataclass
class _Later:
    """What ``insert_later``, ``update_later`` (``_counted``) and ``execute_later`` were
    given inside ``written_together``: the new rows, the updates by model and condition
    (their values merged), the row counts asked for, and the other statements."""

    rows: list[Model] = dataclasses.field(default_factory=list)
    updates: dict[_UpdateKey, dict[str, Any]] = dataclasses.field(default_factory=dict)
    counted: dict[_UpdateKey, Changed] = dataclasses.field(default_factory=dict)
    statements: list[tuple[str, tuple[Any, ...]]] = dataclasses.field(default_factory=list)
    # False: the one statement's commit does not wait for the disk (written_at_once).
    waits_for_disk: bool = True


_later: ContextVar[_Later | None] = ContextVar("written_together", default=None)


@contextmanager
def written_together() -> Iterator[None]:
    """Write the new rows given to ``insert_later`` in the block, and the changes given
    to ``update_later``, as it ends, in as few statements as the database allows: on
    PostgreSQL one, whatever their tables (each UPDATE and INSERT a WITH clause; a
    row's foreign key to an earlier row of the block comes from that row's RETURNING),
    so an action that creates an SMS, an invitation and an audit entry waits for one
    round trip instead of three; on SQLite, where a statement costs no round trip, one
    per model and one per update. Use it inside the action's transaction. In the block
    the rows have no ids yet and cannot be read back, nor can the changes; a row may
    point to a row given before it. If the block raises, nothing is written."""
    later = _Later()
    token = _later.set(later)
    try:
        yield
    finally:
        _later.reset(token)
    _write(later)


@contextmanager
def written_at_once(*, waits_for_disk: bool = True) -> Iterator[None]:
    """``written_together`` for a block that only gives rows and changes: it may not
    touch the database itself (it raises if it does). Its writes then need a
    transaction only where they take more than one statement, so on PostgreSQL, where
    they are one, they go in without ``BEGIN`` and ``COMMIT``: two round trips fewer.
    On SQLite they are written in a transaction of their own (inside the caller's, if
    there is one).

    ``waits_for_disk=False``: on PostgreSQL, that one statement's commit does not wait
    for the WAL to reach the disk (``synchronous_commit`` off for its own transaction;
    the WAL writer flushes it within a fraction of a second). A crash of the database
    server in that moment loses the block's writes whole, never a part of them, so it
    is for writes whose loss the person simply repeats: a code requested (its
    verification, its SMS and its audit entry), which is then asked for again as one
    the phone network lost. Inside a caller's transaction, whose other writes may need
    the disk, and on SQLite, it changes nothing."""
    db = _db()
    later = _Later(waits_for_disk=waits_for_disk or db.in_atomic_block)
    token = _later.set(later)
    try:
        with db.execute_wrapper(_no_statement_before_the_writes):
            yield
    finally:
        _later.reset(token)
    if db.vendor == "postgresql":  # one statement, atomic by itself
        _write(later)
        return
    with transaction.atomic():
        _write(later)


def _no_statement_before_the_writes(*_args: Any) -> Any:
    raise AssertionError("a written_at_once block may not touch the database")


def _write(later: _Later) -> None:
    db = _db()
    groups = _by_model(later.rows)
    updates = [(*key, values) for key, values in later.updates.items()]
    writes = len(later.rows) + len(updates) + len(later.statements)
    if db.vendor == "postgresql" and writes > 1:
        _write_in_one_statement([row for group in groups for row in group], updates, later)
        return
    for model, where, params, values in updates:
        changed = update(model, values, where=where, params=params)
        if (model, where, params) in later.counted:
            later.counted[model, where, params].rows = changed
    for sql, params in later.statements:
        with db.cursor() as cursor:
            cursor.execute(sql, adapted(params))
    for group in groups:
        insert_all(group)


def insert_later(instance: M) -> M:
    """``insert``, but inside ``written_together`` (or ``written_at_once``) as the block
    ends."""
    later = _later.get()
    if later is None:
        return insert(instance)
    later.rows.append(instance)
    return instance


def update_later(
    model: type[Model], values: Mapping[str, Any], *, where: str, params: Sequence[Any]
) -> None:
    """``update`` whose row count nobody needs, but inside ``written_together`` (or
    ``written_at_once``) as the block ends; the changes of one model and condition (a
    row's id, say) become one UPDATE. They must be to rows that were there before the
    block's statement: on PostgreSQL, an UPDATE of the block does not see the rows its
    INSERTs add."""
    later = _later.get()
    if later is None:
        update(model, values, where=where, params=params)
        return
    later.updates.setdefault((model, where, tuple(params)), {}).update(values)


def update_later_counted(
    model: type[Model], values: Mapping[str, Any], *, where: str, params: Sequence[Any]
) -> Changed:
    """``update_later`` for a conditional change whose row count decides whether the
    action stands (an invitation redeemed only if still unused): read it from the
    result once the block has written, and raise there to roll everything back.
    Outside a block, ``update`` at once."""
    later = _later.get()
    if later is None:
        return Changed(update(model, values, where=where, params=params))
    update_later(model, values, where=where, params=params)
    return later.counted.setdefault((model, where, tuple(params)), Changed())


def execute_later(sql: str, params: Sequence[Any]) -> None:
    """A write that is neither a new row nor a change of one (a counter's upsert), to go
    in with the rows of the ``written_together`` block it is given in (on PostgreSQL,
    a clause of its statement: ``sql`` must be a statement WITH can hold). Nobody reads
    its result. It needs a block: see ``writing_together``."""
    later = _later.get()
    assert later is not None, "execute_later() writes with a written_together block"
    later.statements.append((sql, tuple(params)))


def writing_together() -> bool:
    """Whether a ``written_together`` (or ``written_at_once``) block is open here."""
    return _later.get() is not None


def _pointers_back(row: Model, earlier: Mapping[int, int]) -> dict[Field[Any, Any], int]:
    """The foreign keys of ``row`` to rows of ``earlier`` (by ``id()`` of the object,
    to its position), each with that position."""
    pointers = {}
    for field in row._meta.concrete_fields:
        if field.is_relation and field.is_cached(row):  # type: ignore[attr-defined]
            position = earlier.get(id(field.get_cached_value(row)))  # type: ignore[attr-defined]
            if position is not None:
                pointers[field] = position
    return pointers


def _by_model(rows: list[Model]) -> list[list[Model]]:
    """``rows`` in groups of one model, each group after the groups of the rows its rows
    point to, a row in the last group it may join: written group by group (SQLite: an
    ``insert_all`` each), every row finds the rows it points to there already, and rows
    of one model keep their order (an action's audit entries, their ids)."""
    groups: list[list[Model]] = []
    group_of: dict[int, int] = {}
    for row in rows:
        after = max(_pointers_back(row, group_of).values(), default=-1)
        joins = next(
            (index for index in range(len(groups) - 1, after, -1)
             if type(groups[index][0]) is type(row)),
            None,
        )
        if joins is None:
            joins = len(groups)
            groups.append([])
        groups[joins].append(row)
        group_of[id(row)] = joins
    return groups


_Update = tuple[type[Model], str, tuple[Any, ...], dict[str, Any]]
# What one statement's SQL depends on: its updates (model, fields, condition, whether
# counted), its other statements, and its rows (model, pointers back to earlier rows,
# the fields written as literals: NULL or ''), and whether its commit waits for the disk.
_RowShape = tuple[type[Model], tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]]
_Shape = tuple[
    tuple[tuple[type[Model], tuple[str, ...], str, bool], ...],
    tuple[str, ...],
    tuple[_RowShape, ...],
    bool,  # waits for the disk
]
_TOGETHER: dict[_Shape, str] = {}


def _write_in_one_statement(rows: list[Model], updates: list[_Update], later: _Later) -> None:
    """PostgreSQL: ``updates``, ``later``'s statements and ``rows`` with one statement,
    ``WITH u0 AS (UPDATE …), s0 AS (INSERT … ON CONFLICT …), r0 AS (INSERT … RETURNING
    id), r1 AS (INSERT … VALUES (…, (SELECT id FROM r0), …) …) SELECT (SELECT id FROM
    r0), …, (SELECT count(*) FROM u0)``: the new rows' ids, then the counted updates'
    row counts. A foreign key to a row of the block is deferred on PostgreSQL (Django
    creates them DEFERRABLE INITIALLY DEFERRED), so it is checked at commit, when the
    row is there. A new row's NULLs and empty strings are written as literals, not as
    parameters: psycopg parses a statement of more than 50 parameters afresh each time
    (see tests/test_registration_cost.py), and a join's rows hold several."""
    positions = {id(row): position for position, row in enumerate(rows)}
    shape: list[_RowShape] = []
    values: list[Any] = []
    for model, where, params, changes in updates:
        _, fields = _update_sql(model, tuple(changes), where)
        values += [*_update_values(fields, changes), *adapted(params)]
    for _, params in later.statements:
        values += adapted(params)
    for position, row in enumerate(rows):
        pointers = _pointers_back(row, positions)
        assert all(earlier < position for earlier in pointers.values()), (
            "a row is given after the rows it points to"
        )
        _check_new(row, but=list(pointers))
        _, fields = _insert_into(type(row))
        given = [field for field in fields if field not in pointers]
        prepared = _prepared(row, given)
        literals = []
        for field, value in zip(given, prepared, strict=True):
            literal = _literal(value)
            if literal is None:
                values.append(value)
            else:
                literals.append((field.attname, literal))
        shape.append((
            type(row),
            tuple((field.attname, at) for field, at in pointers.items()),
            tuple(literals),
        ))
    counted = [(model, where, params) in later.counted for model, where, params, _ in updates]
    key: _Shape = (
        tuple(
            (model, tuple(changes), where, counts)
            for (model, where, _, changes), counts in zip(updates, counted, strict=True)
        ),
        tuple(sql for sql, _ in later.statements),
        tuple(shape),
        later.waits_for_disk,
    )
    if key not in _TOGETHER:
        _TOGETHER[key] = _one_statement(*key)
    with _db().cursor() as cursor:
        cursor.execute(_TOGETHER[key], values)
        answer = cursor.fetchone()
    assert answer is not None
    _saved(rows, answer[: len(rows)])
    for row, (_, pointing, _literals) in zip(rows, shape, strict=True):
        for attname, at in pointing:
            setattr(row, attname, rows[at].pk)
    changed = iter(answer[len(rows) :])
    for (model, where, params, _), counts in zip(updates, counted, strict=True):
        if counts:
            later.counted[model, where, params].rows = int(next(changed))


def _literal(value: Any) -> str | None:
    """The SQL literal a prepared value is written as instead of a parameter, if any."""
    if value is None:
        return "NULL"
    if isinstance(value, str) and not value:
        return "''"
    return None


def _one_statement(
    updates: Sequence[tuple[type[Model], tuple[str, ...], str, bool]],
    statements: Sequence[str],
    shape: Sequence[_RowShape],
    waits_for_disk: bool,
) -> str:
    # Names from the models' metadata only; every value is a parameter.
    quote = _db().ops.quote_name
    keys = [quote(model._meta.pk.column) for model, _, _ in shape]

    clauses = [
        f"u{position} AS ({_update_sql(model, names, where)[0]}"
        f"{' RETURNING 1' if counted else ''})"
        for position, (model, names, where, counted) in enumerate(updates)
    ]
    clauses += [f"s{position} AS ({sql})" for position, sql in enumerate(statements)]
    for position, (model, pointers, literals) in enumerate(shape):
        head, fields = _insert_into(model)
        pointing, written = dict(pointers), dict(literals)
        values = [
            f"(SELECT {keys[pointing[field.attname]]} FROM r{pointing[field.attname]})"  # noqa: S608
            if field.attname in pointing else written.get(field.attname, "%s")
            for field in fields
        ]
        clauses.append(
            f"r{position} AS ({head} VALUES ({', '.join(values)}) RETURNING {keys[position]})"
        )
    # An UPDATE (or INSERT) in WITH runs whether or not the query reads it.
    answers = [f"(SELECT {key} FROM r{at})" for at, key in enumerate(keys)]  # noqa: S608
    answers += [
        f"(SELECT count(*) FROM u{position})"  # noqa: S608
        for position, (*_, counted) in enumerate(updates) if counted
    ]
    if not waits_for_disk:  # last: read by nobody; for this transaction alone
        answers.append("set_config('synchronous_commit', 'off', true)")
    return f"WITH {', '.join(clauses)} SELECT {', '.join(answers) or '1'}"


_UPDATES: dict[
    tuple[type[Model], str, tuple[str, ...], str], tuple[str, list[Field[Any, Any]]]
] = {}


def update(
    model: type[Model], values: Mapping[str, Any], *, where: str, params: Sequence[Any]
) -> int:
    """``QuerySet.update(**values)`` on the rows ``where`` picks, with its SQL built once
    per model, fields and condition (the ORM compiles it every time, for ten times the
    Python); returns how many rows changed. ``values`` by field name (a foreign key's
    by its name, given the related id) are prepared as the ORM prepares them; ``where``
    is SQL over the table's columns, its ``%s`` taking ``params``, adapted likewise."""
    sql, fields = _update_sql(model, tuple(values), where)
    with _db().cursor() as cursor:
        cursor.execute(sql, [*_update_values(fields, values), *adapted(params)])
        return int(cursor.rowcount)


def _update_sql(
    model: type[Model], names: tuple[str, ...], where: str
) -> tuple[str, list[Field[Any, Any]]]:
    """``UPDATE table SET column = %s, … WHERE …`` for the fields ``names``, built once,
    and those fields."""
    db = _db()
    key = (model, db.vendor, names, where)
    if key not in _UPDATES:
        meta = model._meta
        fields = [cast("Field[Any, Any]", meta.get_field(name)) for name in names]
        assignments = ", ".join(
            f"{db.ops.quote_name(field.column)} = %s" for field in fields
        )
        _UPDATES[key] = (
            f"UPDATE {db.ops.quote_name(meta.db_table)} "  # noqa: S608
            f"SET {assignments} WHERE {where}",
            fields,
        )
    return _UPDATES[key]


def _update_values(fields: Sequence[Field[Any, Any]], values: Mapping[str, Any]) -> list[Any]:
    """``values`` (by field name, in the fields' order) as the ORM prepares them."""
    db = _db()
    return [
        field.get_db_prep_save(value, db)
        for field, value in zip(fields, values.values(), strict=True)
    ]


def fetch_models(
    model: type[M], sql: str, params: Mapping[str, Any] | Sequence[Any], *,
    related: Sequence[str] = (), extra: Sequence[str] = (),
) -> list[M]:
    """The rows of ``sql`` as instances of ``model``. Their first columns are
    ``columns_of(model, …)``, in order; then, for each path in ``related`` (a foreign
    key of ``model``, or of a relation named before it: "invitation.inviter"), the
    columns of the model it points to, which becomes that relation (None where its key
    is NULL: LEFT JOIN it); the ``extra`` columns after them are set on each instance
    as attributes. What ``objects.raw`` and ``select_related`` build, without working
    out the columns of every answer again (a third of a hot read's cost)."""
    with _db().cursor() as cursor:
        cursor.execute(sql, adapted(params))
        rows = cursor.fetchall()
    related_models: dict[str, type[Model]] = {"": model}
    for path in related:
        parent, _, name = path.rpartition(".")
        related_models[path] = cast(
            type[Model], related_models[parent]._meta.get_field(name).related_model
        )
    instances = []
    for row in rows:
        instance, start = _instance(model, row, 0)
        read: dict[str, Model | None] = {"": instance}
        for path in related:
            related_instance, start = _instance(related_models[path], row, start)
            parent, _, name = path.rpartition(".")
            read[path] = related_instance if related_instance.pk is not None else None
            if read[parent] is not None:
                setattr(read[parent], name, read[path])
        for name, value in zip(extra, row[start:], strict=True):
            setattr(instance, name, value)
        instances.append(instance)
    return instances


def _instance(model: type[M], row: Sequence[Any], start: int) -> tuple[M, int]:
    """The instance of ``model`` in ``row`` from column ``start``; where the next begins."""
    db = _db()
    fields = model._meta.concrete_fields
    values = [
        _converted(value, field_converters, db)
        if field_converters and value is not None else value
        for value, field_converters in zip(row[start:], _converters(model), strict=False)
    ]
    instance = model.from_db(db.alias, [field.attname for field in fields], values)
    return instance, start + len(fields)


def fetch_model(
    model: type[M], sql: str, params: Mapping[str, Any] | Sequence[Any], *,
    related: Sequence[str] = (), extra: Sequence[str] = (),
) -> M | None:
    """The first row of ``sql`` as ``fetch_models`` builds it, or None."""
    return next(iter(fetch_models(model, sql, params, related=related, extra=extra)), None)


def _converted(value: Any, converters: list[tuple[Any, Any]], connection: Any) -> Any:
    for converter, column in converters:
        value = converter(value, column, connection)
    return value


_CONVERTERS: dict[tuple[type[Model], str], list[list[tuple[Any, Any]]]] = {}


def _converters(model: type[Model]) -> list[list[tuple[Any, Any]]]:
    """Per field, the converters the ORM applies to its column's values on this
    database (SQLite: datetimes made aware, 0/1 made booleans; PostgreSQL: none)."""
    db = _db()
    key = (model, db.vendor)
    if key not in _CONVERTERS:
        converters = []
        for field in model._meta.concrete_fields:
            column = field.get_col(model._meta.db_table)
            # The column's converters are what the field's own get_db_converters gives.
            functions = [*db.ops.get_db_converters(column),
                         *column.get_db_converters(db)]
            converters.append([(function, column) for function in functions])
        _CONVERTERS[key] = converters
    return _CONVERTERS[key]


def fetch_dicts(
    sql: str, params: Mapping[str, Any], *, datetimes: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The rows of ``sql`` as dicts by column name. The ``datetimes`` columns come back
    aware, as from the ORM (SQLite's driver gives naive UTC ones, or text)."""
    with _db().cursor() as cursor:
        cursor.execute(sql, adapted(params))
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        for name in datetimes:
            row[name] = _aware(row[name])
    return rows


def adapted(
    params: Mapping[str, Any] | Sequence[Any],
) -> Mapping[str, Any] | Sequence[Any]:
    """Datetimes as the ORM hands them to this database (SQLite: naive UTC text)."""
    adapt = _db().ops.adapt_datetimefield_value

    def one(value: Any) -> Any:
        return adapt(value) if isinstance(value, datetime) else value

    if isinstance(params, Mapping):
        return {name: one(value) for name, value in params.items()}
    return [one(value) for value in params]


def _aware(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        # SQLite gives a computed column (MAX of a datetime, say) as text.
        value = datetime.fromisoformat(value)
    # SQLite's connection time zone is UTC whenever USE_TZ is on, as it is here.
    if value is None or timezone.is_aware(value):
        return value
    return value.replace(tzinfo=UTC)
