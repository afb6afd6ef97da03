"""Shared fixtures: a fresh, migrated database per test, on every configured backend.

The storage contract tests (tests/contract) ask for ``store``; they run once per backend in
``BACKENDS``. SQLite always runs (a new file in the test's tmp_path). PostgreSQL joins when
``QN_BOT_TEST_POSTGRES_URL`` names a server a test may create databases on, e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``: each test then gets its own
database, made before it (by a thread that keeps a few ready) and dropped after it — the tests
themselves do not change.

A migrated database (``migrated_url``, ``store``) is a copy of one migrated once per session: a
copy of the SQLite file, ``CREATE DATABASE … TEMPLATE`` on PostgreSQL. Running every migration
for each of hundreds of tests cost about a minute and a half of the suite and proved nothing
more: tests/unit/test_migrations.py checks the migrations themselves on both backends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


class MigratedTemplates:
    """A SQLite file with every migration applied, made at first use; each test that wants a
    migrated SQLite database gets a copy of it (PostgreSQL: see PostgresDatabases)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._sqlite: Path | None = None

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


class PostgresDatabases:
    """Fresh databases on the test server, made ahead of need by a thread of their own.

    A CREATE DATABASE costs the server ~0.2 s; hundreds of tests each waited for theirs. Here a
    few of each kind (empty, or a copy of the migrated template) are always ready, made while
    the tests run: most tests wait on a process or a server, and the server has a core of its
    own. Every test still gets a database nobody used before, dropped after it.
    """

    AHEAD = 2

    def __init__(self, server_url: str) -> None:
        self.server_url = async_url(server_url)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="postgres-databases", daemon=True
        )
        self._thread.start()
        self._drops: list[concurrent.futures.Future[None]] = []
        # Only touched in the thread's loop:
        self._admin: AsyncEngine | None = None
        self._template: asyncio.Task[str] | None = None
        self._ready: dict[bool, asyncio.Queue[asyncio.Task[str]]] = {}
        self._made: set[str] = set()
        self._creating: asyncio.Lock | None = None  # one CREATE DATABASE at a time

    def url(self, name: str) -> str:
        return make_url(self.server_url).set(database=name).render_as_string(hide_password=False)

    async def take(self, *, migrated: bool) -> str:
        """The name of a new database, empty or migrated (from any event loop)."""
        future = asyncio.run_coroutine_threadsafe(self._take(migrated), self._loop)
        return await asyncio.wrap_future(future)

    def drop(self, name: str) -> None:
        """Dropped in the background (WITH (FORCE): connections left open are cut)."""
        self._drops.append(asyncio.run_coroutine_threadsafe(self._drop(name), self._loop))

    def close(self) -> None:
        future = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
        try:
            for dropped in self._drops:
                dropped.result(timeout=60)  # raises what a drop met
            future.result(timeout=60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    # ------------------------------------------------------------------ in the thread's loop

    async def _execute(self, statement: str) -> None:
        if self._admin is None:
            self._admin = create_async_engine(self.server_url, isolation_level="AUTOCOMMIT")
        async with self._admin.connect() as conn:
            await conn.execute(text(statement))

    async def _take(self, migrated: bool) -> str:
        queue = self._ready.get(migrated)
        if queue is None:
            queue = self._ready[migrated] = asyncio.Queue()
            for _ in range(self.AHEAD):
                queue.put_nowait(self._loop.create_task(self._create(migrated)))
        made = queue.get_nowait()
        queue.put_nowait(self._loop.create_task(self._create(migrated)))
        return await made

    async def _create(self, migrated: bool) -> str:
        copy = f' TEMPLATE "{await self._migrated_template()}"' if migrated else ""
        name = f"qn_test_{uuid.uuid4().hex[:16]}"
        self._made.add(name)
        if self._creating is None:
            self._creating = asyncio.Lock()
        async with self._creating:
            await self._execute(f'CREATE DATABASE "{name}"{copy}')
        return name

    async def _migrated_template(self) -> str:
        """Made once; nobody may stay connected to it (CREATE DATABASE … TEMPLATE refuses)."""
        if self._template is None:
            self._template = self._loop.create_task(self._make_template())
        return await self._template

    async def _make_template(self) -> str:
        name = f"qn_template_{uuid.uuid4().hex[:16]}"
        self._made.add(name)
        await self._execute(f'CREATE DATABASE "{name}"')
        await upgrade(self.url(name))
        return name

    async def _drop(self, name: str) -> None:
        await self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.discard(name)

    async def _close(self) -> None:
        for queue in self._ready.values():
            while not queue.empty():
                await asyncio.gather(queue.get_nowait(), return_exceptions=True)
        if self._template is not None:
            await asyncio.gather(self._template, return_exceptions=True)
        try:
            for name in list(self._made):
                await self._drop(name)
        finally:
            if self._admin is not None:
                await self._admin.dispose()


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> MigratedTemplates:
    return MigratedTemplates(tmp_path_factory.mktemp("migrated"))


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases | None]:
    server_url = os.environ.get(POSTGRES_ENV)
    if not server_url:
        yield None
        return
    databases = PostgresDatabases(server_url)
    yield databases
    databases.close()


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    migrated_templates: MigratedTemplates,
    postgres_databases: PostgresDatabases | None,
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
    assert postgres_databases is not None
    name = await postgres_databases.take(migrated=migrated)
    try:
        yield postgres_databases.url(name)
    finally:
        postgres_databases.drop(name)


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
