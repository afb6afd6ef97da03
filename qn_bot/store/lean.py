"""Statements a batch runs with many rows, compiled once per dialect and fed driver-ready values.

SQLAlchemy re-derives, for every ``execute`` of a Core statement with a list of rows, the
statement's cache key, its compiled form and then every value through its type's bind processor.
For group commit's writes (hundreds of rows per statement, each with the batch's one timestamp
several times over) that was most of the write path's CPU (profiled: ~70 µs per answer of ~200).
A :class:`LeanStatement` compiles once per dialect — with SQLAlchemy, so the SQL, the parameter
style and the bind casts are the dialect's own — and converts each value with the dialect's own
bind processor, once per distinct timestamp, then hands the rows to the driver's executemany.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    #: Per positional parameter: the row key it reads and the dialect's converter, if any.
    params: tuple[tuple[str, Processor | None], ...]


class LeanStatement:
    """One statement with named bind parameters, executed for many rows at once."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str]) -> None:
        """``keys``: the row keys the statement reads — for an INSERT or UPDATE without
        ``values()``, the columns it sets, as SQLAlchemy's ``column_keys``."""
        self._statement = statement
        self._keys = list(keys)
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._compiled.get(dialect.name)
        if compiled is not None:
            return compiled
        # for_executemany: no RETURNING of generated ids (PostgreSQL would add one).
        c = self._statement.compile(dialect=dialect, column_keys=self._keys, for_executemany=True)
        assert isinstance(c, SQLCompiler)
        if c.positiontup is None:
            raise TypeError(f"{dialect.name} does not use positional parameters")
        params = tuple(
            (name, c.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in c.positiontup
        )
        compiled = _Compiled(c.string, params)
        self._compiled[dialect.name] = compiled
        return compiled

    async def executemany(self, conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        compiled = self._compile(conn.dialect)
        # A batch's rows share their timestamps: each distinct one is converted once (per
        # converter: two columns' types may store one instant differently).
        converted: dict[tuple[Processor, datetime], Any] = {}

        def value(raw: Any, process: Processor | None) -> Any:
            if process is None:
                return raw
            if type(raw) is datetime:
                key = (process, raw)
                if key not in converted:
                    converted[key] = process(raw)
                return converted[key]
            return process(raw)

        params = compiled.params
        await conn.exec_driver_sql(
            compiled.sql,
            [tuple(value(row[key], process) for key, process in params) for row in rows],
        )
