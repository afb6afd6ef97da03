"""Shared fixtures: a fresh, migrated database per test, on every configured backend.

The storage contract tests (tests/contract) ask for ``store``; they run once per backend in
``BACKENDS``. SQLite always runs (a new file in the test's tmp_path). PostgreSQL joins when
``QN_BOT_TEST_POSTGRES_URL`` names a server a test may create databases on, e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``: each test then gets its own
database, created before and dropped after it — the tests themselves do not change.

A migrated database (``migrated_url``, ``store``) is a copy of one migrated once per session: a
copy of the SQLite file, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL. Running every migration
for each of hundreds of tests cost about a minute and a half of the suite and proved nothing
more: tests/unit/test_migrations.py checks the migrations themselves on both backends.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from qn_bot.store.database import async_url
from qn_bot.store.migrate import upgrade
from qn_bot.store.sql import Store

POSTGRES_ENV = "QN_BOT_TEST_POSTGRES_URL"
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get(POSTGRES_ENV) else [])


def pytest_configure(config: pytest.Config) -> None:
    del config
    # Hundreds of `qn-bot` processes (and Synapse) are started by the tests, each importing the
    # whole package: let the first one cache the bytecode for the others. An environment that
    # asks Python never to write it (PYTHONDONTWRITEBYTECODE, set on some CI machines) made
    # every start compile qn_bot again: ~0.3 s of CPU each.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


#: The instant every test clock starts at (a Thursday, mid-January, UTC).
T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


async def _fresh_postgres_database(
    server_url: str, template: str | None = None
) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Create a database on the server, empty or a copy of ``template``; returns its URL and an
    async dropper."""
    name = f"qn_test_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(async_url(server_url), isolation_level="AUTOCOMMIT")
    copy = f' TEMPLATE "{template}"' if template is not None else ""
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))

    async def drop() -> None:
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            await admin.dispose()

    url = make_url(async_url(server_url)).set(database=name).render_as_string(hide_password=False)
    return url, drop


class MigratedTemplates:
    """One database per backend with every migration applied, made at first use; each test
    that wants a migrated database gets a copy of it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sqlite: Path | None = None
        self._postgres: tuple[str, str] | None = None  # (server URL, template's name)

    async def sqlite(self) -> Path:
        if self._sqlite is None:
            path = self.directory / "migrated.db"
            await upgrade(f"sqlite+aiosqlite:///{path}")
            # Everything in the main file, so that copying that file copies the database.
            with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                assert busy == 0, "the migrated template is still in use"
            self._sqlite = path
        return self._sqlite

    async def postgres(self, server_url: str) -> str:
        """The template's name; nobody may stay connected to it (CREATE DATABASE refuses)."""
        if self._postgres is None:
            name = f"qn_template_{uuid.uuid4().hex[:16]}"
            await _postgres_admin(server_url, f'CREATE DATABASE "{name}"')
            await upgrade(
                make_url(async_url(server_url))
                .set(database=name)
                .render_as_string(hide_password=False)
            )
            self._postgres = (server_url, name)
        return self._postgres[1]

    def close(self) -> None:
        if self._postgres is not None:
            server_url, name = self._postgres
            asyncio.run(
                _postgres_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            )


async def _postgres_admin(server_url: str, statement: str) -> None:
    admin = create_async_engine(async_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    templates = MigratedTemplates(tmp_path_factory.mktemp("migrated"))
    yield templates
    templates.close()


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: MigratedTemplates
) -> AsyncIterator[str]:
    """The URL of an empty database of the parametrised backend (not migrated yet) — or, in
    a test that asks for ``migrated_url``, of that migrated database."""
    migrated = "migrated_url" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "qn.db"
        if migrated:
            shutil.copyfile(await migrated_templates.sqlite(), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server_url = os.environ[POSTGRES_ENV]
    template = await migrated_templates.postgres(server_url) if migrated else None
    url, drop = await _fresh_postgres_database(server_url, template)
    try:
        yield url
    finally:
        await drop()


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    """The database URL after `qn-bot db upgrade` (every Alembic migration applied): a copy of
    the session's migrated template (``database_url`` makes it)."""
    return database_url


@pytest.fixture
async def store(migrated_url: str) -> AsyncIterator[Store]:
    """The real store on a fresh, migrated database."""
    store = Store.from_url(migrated_url)
    try:
        yield store
    finally:
        await store.close()


class FixedClock:
    """A clock that only moves when told to: ``clock()``, ``clock.advance(seconds=…)``."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


class Pseudonyms:
    """Deterministic pseudonyms P-0001, P-0002… (the real factory is random)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return f"P-{next(self._counter):04d}"


@pytest.fixture
def pseudonyms() -> Pseudonyms:
    return Pseudonyms()
