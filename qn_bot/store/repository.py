"""What every repository of one transaction shares: the transaction's connection.

A repository is a small class per concern (campaigns, participants, sessions…) whose methods
run on the connection of the transaction that made it; :class:`qn_bot.store.sql.Tx` makes one
of each, so everything done through them commits together or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, Table, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from qn_bot.repositories import Transaction


class Work:
    """One open transaction as its repositories see it."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.dialect = conn.dialect.name
        #: Set by writes that erase personal data: the store then scrubs the journal of the
        #: database (SQLite's WAL) once the transaction committed.
        self.erased = False


class Repository:
    """Base of the repositories: reads and writes of one concern, on one transaction."""

    __slots__ = ("conn", "dialect", "work")

    def __init__(self, work: Work) -> None:
        self.work = work
        self.conn = work.conn
        self.dialect = work.dialect

    def _insert(self, table: Table) -> Any:
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        if self.dialect == "sqlite":
            return sqlite.insert(table)
        return insert(table)

    def _batch(self, rows: Select[Any], limit: int) -> Select[Any]:
        """At most ``limit`` of ``rows``; on PostgreSQL none another process is purging (two
        bots purging at once take different rows instead of waiting on, or deadlocking with,
        each other)."""
        rows = rows.limit(limit)
        return rows.with_for_update(skip_locked=True) if self.dialect == "postgresql" else rows


def connection_of(tx: Transaction) -> AsyncConnection:
    """The connection under a transaction the service hands back to the store (group commit's
    :meth:`qn_bot.store.batch.BatchWrites.flush`). Only qn_bot/store may call it: everything
    outside reaches the database through the repositories' Protocols (an import rule in
    tests/unit/test_import_rules.py)."""
    if not isinstance(tx, Work):
        raise TypeError(f"not a transaction of the SQL store: {type(tx).__name__}")
    return tx.conn
