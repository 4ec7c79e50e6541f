"""The writes every turn makes, without the ORM building each statement anew.

A turn inserts its rows and, when it ends, updates two. Through the ORM each of those
builds a query and compiles it to SQL, and under load that costs more than the database
takes to run it (docs/performance.md). These write what `bulk_create` and
`QuerySet.update` would write (each value through its field's `pre_save` and
`get_db_prep_save`), with the SQL made once per database and shape, from the model's own
names. `project/prepared.py` does the same for the reads.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Model

_insert_sql: dict[tuple[type[Model], str, int], str] = {}
_update_sql: dict[tuple[type[Model], str, tuple[str, ...], tuple[str, ...]], str] = {}


def rows_insert(objs: Sequence[Model]) -> None:
    """Insert new `objs` of one model in one statement, as `bulk_create` would, and set
    their ids. For models whose every field has its value in Python (no `db_default`,
    no generated field), on databases that return the new ids (SQLite 3.35, PostgreSQL);
    anything else goes through `bulk_create`."""
    model = type(objs[0])
    alias = router.db_for_write(model)
    connection = connections[alias]
    fields = _insert_fields(model)
    if fields is None or not connection.features.can_return_rows_from_bulk_insert:
        model._default_manager.using(alias).bulk_create(objs)
        return
    key = (model, alias, len(objs))
    sql = _insert_sql.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        # The names are the model's, quoted; the values are parameters.
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608
            f"({', '.join(quote(f.column) for f in fields)}) "
            f"VALUES {', '.join([row] * len(objs))} RETURNING {quote(model._meta.pk.column)}"
        )
        _insert_sql[key] = sql
    params: list[Any] = []
    for obj in objs:
        if type(obj) is not model or not obj._state.adding:
            raise ValueError("rows_insert takes new instances of one model.")
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
        params.extend(f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = cursor.fetchall()
    for obj, (pk,) in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias


def row_update(
    model: type[Model], *, pk: int, where: dict[str, Any], values: dict[str, Any]
) -> int:
    """`model.objects.filter(pk=pk, **where).update(**values)` for plain values (no
    expressions): how many rows it changed (0 or 1)."""
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    key = (model, alias, tuple(values), tuple(where))
    sql = _update_sql.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        sets = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in values)
        columns = [meta.pk.column] + [meta.get_field(name).column for name in where]
        conditions = " AND ".join(f"{quote(column)} = %s" for column in columns)
        # The names are the model's, quoted; the values are parameters.
        sql = f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {conditions}"  # noqa: S608
        _update_sql[key] = sql
    params = [_db_value(meta, name, value, connection) for name, value in values.items()]
    params.append(pk)
    params += [_db_value(meta, name, value, connection) for name, value in where.items()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _db_value(meta, name: str, value: Any, connection) -> Any:
    if value is None:
        return None
    if hasattr(value, "resolve_expression"):
        raise TypeError(f"row_update takes plain values; {name!r} is an expression.")
    return meta.get_field(name).get_db_prep_save(value, connection)


@functools.cache
def _insert_fields(model: type[Model]) -> list | None:
    """The fields an INSERT of `model` writes (all but the automatic primary key), or
    None when one of them needs the database's own value. Once per model: it is asked
    on every turn."""
    meta = model._meta
    fields = [f for f in meta.concrete_fields if f is not meta.auto_field]
    if any(f.generated or f.has_db_default() for f in fields):
        return None
    return fields
