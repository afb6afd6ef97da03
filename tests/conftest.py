"""Shared fixtures: a fresh, migrated database per test, on every configured backend.

The storage contract tests (tests/contract) ask for ``store``; they run once per backend in
``BACKENDS``. SQLite always runs (a new file in the test's tmp_path). PostgreSQL joins when
``QN_BOT_TEST_POSTGRES_URL`` names a server a test may create databases on, e.g.
``postgresql+asyncpg://postgres@127.0.0.1:5432/postgres``: each test then gets its own
database, created before and dropped after it — the tests themselves do not change.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
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

#: The instant every test clock starts at (a Thursday, mid-January, UTC).
T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)


async def _fresh_postgres_database(server_url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    """Create an empty database on the server; returns its URL and an async dropper."""
    name = f"qn_test_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(async_url(server_url), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))

    async def drop() -> None:
        try:
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            await admin.dispose()

    url = make_url(async_url(server_url)).set(database=name).render_as_string(hide_password=False)
    return url, drop


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database of the parametrised backend (not migrated yet)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'qn.db'}"
        return
    url, drop = await _fresh_postgres_database(os.environ[POSTGRES_ENV])
    try:
        yield url
    finally:
        await drop()


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    """The database URL after `qn-bot db upgrade` (every Alembic migration applied)."""
    await upgrade(database_url)
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
