"""One model row by equality on a few columns, its SQL compiled once per process.

For the hottest reads (``GET /api/v1/sessions/<id>``): building and compiling a queryset
for a wide model costs more than the database does to answer it. The row comes back as a
model instance exactly as the ORM makes it (``Model.from_db``, every column through the
field's and the backend's converters), so callers cannot tell the difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model

M = TypeVar("M", bound=Model)

Converter = Callable[[Any, Any, Any], Any]
# The SELECT, the filter's fields, the attribute names, each column with its converters.
_Compiled = tuple[str, list[Any], list[str], list[tuple[Any, list[Converter]]]]


class RowReader(Generic[M]):
    """``reader.get(a, b)`` is ``model.objects.filter(<where[0]>=a, <where[1]>=b).first()``
    for a query that matches at most one row (the primary key is among ``where``)."""

    def __init__(self, model: type[M], where: Sequence[str], *, using: str = "default") -> None:
        self.model = model
        self.where = tuple(where)
        self.using = using
        self._compiled: _Compiled | None = None

    def _compile(self) -> _Compiled:
        connection = connections[self.using]
        quote = connection.ops.quote_name
        meta = self.model._meta
        fields = list(meta.concrete_fields)
        columns = ", ".join(quote(field.column) for field in fields)
        filters = [meta.get_field(name) for name in self.where]
        conditions = " AND ".join(f"{quote(field.column)} = %s" for field in filters)
        sql = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {conditions}"  # noqa: S608
        converters = []
        for field in fields:
            column = field.get_col(meta.db_table)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            converters.append((column, found))
        return sql, filters, [field.attname for field in fields], converters

    def get(self, *values: Any) -> M | None:
        if self._compiled is None:
            self._compiled = self._compile()
        sql, filters, names, converters = self._compiled
        connection = connections[self.using]
        params = [
            field.get_db_prep_value(value, connection)
            for field, value in zip(filters, values, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        converted = []
        for value, (column, found) in zip(row, converters, strict=True):
            for converter in found:
                value = converter(value, column, connection)
            converted.append(value)
        return self.model.from_db(self.using, names, converted)
