"""SELECTs the ORM builds once per process, then runs with new values.

Every turn reads the same few rows the same way: the API token and its user, the
session and its coach, the session's prompts, its conversation. For each, Django builds
a queryset and compiles it to SQL from scratch, and under load that costs more than
the database takes to run it (docs/performance.md). A `PreparedSelect` lets the ORM
build and compile the query once per database, with marker values standing in for the
real ones, and then only runs its SQL with the values given, turning the rows into
model instances exactly as a queryset does (converters, `select_related`).

Only for querysets whose shape does not depend on the values: each value must be an
int or a str that appears, as itself, among the compiled query's parameters (a primary
key, a foreign key, a token's key in a WHERE clause). The first use checks that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connections, router
from django.db.models import Model, QuerySet
from django.db.models.query import ModelIterable, get_related_populators

M = TypeVar("M", bound=Model)

# Values no real query asks for, within every backend's integer range (PostgreSQL's
# `integer`): Django answers a lookup outside a field's range with no query at all.
_INT_MARKER_BASE = -2_000_000_000
# What every backend binds: SQLite refuses an int past 64 bits (OverflowError).
_INT64 = range(-(2**63), 2**63)


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    # For each value's name, the positions of its marker among `params`.
    positions: dict[str, tuple[int, ...]]
    query: Any  # the template's sql.Query, for a compiler bound to the caller's connection
    select: list
    klass_info: dict
    annotation_col_map: dict
    col_count: int
    init_list: list[str]
    model_slice: tuple[int, int]
    related_populators: list


class PreparedSelect(Generic[M]):
    """`build(**values)` returns a queryset of `model`; `list(**values)` and `get(**values)`
    run it."""

    def __init__(self, model: type[M], build: Callable[..., QuerySet[M]]):
        self.model = model
        self._build = build
        self._compiled: dict[tuple[str, tuple[tuple[str, type], ...]], _Compiled] = {}
        self._lock = threading.Lock()

    def list(self, **values: int | str) -> list[M]:
        signature = tuple(sorted((name, _kind(name, value)) for name, value in values.items()))
        alias = router.db_for_read(self.model)
        if any(type(value) is int and value not in _INT64 for value in values.values()):
            # A URL's digits can be any length: the ORM answers those (with no rows).
            return list(self._build(**values).using(alias))
        compiled = self._compiled.get((alias, signature)) or self._compile(alias, signature)
        params = list(compiled.params)
        for name, value in values.items():
            for position in compiled.positions[name]:
                params[position] = value
        with connections[alias].cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if not rows:
            return []
        # A compiler of the caller's connection, for the converters (a SQLite datetime
        # is text, a JSON field a string), set up as the template's was.
        compiler = compiled.query.get_compiler(using=alias)
        compiler.select = compiled.select
        compiler.klass_info = compiled.klass_info
        compiler.annotation_col_map = compiled.annotation_col_map
        compiler.col_count = compiled.col_count
        start, end = compiled.model_slice
        objects = []
        for row in compiler.results_iter([rows]):
            obj = self.model.from_db(alias, compiled.init_list, row[start:end])
            for populator in compiled.related_populators:
                populator.populate(row, obj)
            for attr_name, col_pos in compiled.annotation_col_map.items():
                setattr(obj, attr_name, row[col_pos])
            objects.append(obj)
        return objects

    def get(self, **values: int | str) -> M:
        """The one row, or the model's DoesNotExist (MultipleObjectsReturned), as `get()`."""
        objects = self.list(**values)
        if len(objects) == 1:
            return objects[0]
        name = self.model._meta.object_name
        if not objects:
            raise self.model.DoesNotExist(f"{name} matching query does not exist.")
        raise self.model.MultipleObjectsReturned(
            f"get() returned more than one {name} -- it returned {len(objects)}!"
        )

    def _compile(self, alias: str, signature: tuple[tuple[str, type], ...]) -> _Compiled:
        with self._lock:
            compiled = self._compiled.get((alias, signature))
            if compiled is not None:
                return compiled
            markers = {
                name: (
                    _INT_MARKER_BASE - index
                    if kind is int
                    else f"prepared-select-marker-{index}-{name}"
                )
                for index, (name, kind) in enumerate(signature)
            }
            queryset = self._build(**markers).using(alias)
            if (
                queryset.model is not self.model
                or queryset._prefetch_related_lookups
                or queryset._iterable_class is not ModelIterable
                or queryset._known_related_objects
            ):
                raise ValueError(
                    f"A PreparedSelect of {self.model.__name__} yields its instances, "
                    "without prefetches."
                )
            compiler = queryset.query.get_compiler(using=alias)
            sql, params = compiler.as_sql()
            positions = {}
            for name, marker in markers.items():
                found = tuple(i for i, param in enumerate(params) if param == marker)
                if not found:
                    raise ValueError(
                        f"{name!r} does not reach the query's parameters as itself: "
                        "a PreparedSelect cannot run this queryset."
                    )
                positions[name] = found
            klass_info = compiler.klass_info
            select_fields = klass_info["select_fields"]
            start, end = select_fields[0], select_fields[-1] + 1
            compiled = _Compiled(
                sql=sql,
                params=tuple(params),
                positions=positions,
                query=queryset.query,
                select=compiler.select,
                klass_info=klass_info,
                annotation_col_map=compiler.annotation_col_map,
                col_count=compiler.col_count,
                init_list=[column[0].target.attname for column in compiler.select[start:end]],
                model_slice=(start, end),
                related_populators=get_related_populators(klass_info, compiler.select, alias),
            )
            self._compiled[(alias, signature)] = compiled
            return compiled


def _kind(name: str, value: object) -> type:
    if type(value) is int or type(value) is str:
        return type(value)
    raise TypeError(f"A PreparedSelect takes ints and strs; {name!r} is {type(value).__name__}.")
