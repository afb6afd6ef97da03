"""Exclusive roles between processes (qn_bot.leadership and its PostgreSQL implementation),
on every test backend.

On PostgreSQL two helpers stand for two processes: each holds roles on connections of its own,
so killing the holder's backend is what the server sees when a process dies by SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from qn_bot.leadership import Granted, Leadership, Lease, run_exclusively, secret_label
from qn_bot.store.leadership import PostgresLeadership, leadership_for, role_key

ROLE = "telegram:0123456789abcdef"
FAST = {"retry": 0.1, "check": 0.1, "check_timeout": 2.0}


@contextlib.asynccontextmanager
async def helpers(url: str) -> AsyncIterator[tuple[Leadership, Leadership]]:
    if leadership_for(url).__class__ is Granted:
        yield Granted(), Granted()
        return
    first, second = PostgresLeadership(url, **FAST), PostgresLeadership(url, **FAST)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def kill_role_holders(url: str) -> int:
    """What the server sees when the holding process dies: its backend goes away."""
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                    " WHERE locktype = 'advisory' AND granted"
                    " AND database = (SELECT oid FROM pg_database"
                    "                 WHERE datname = current_database())"
                )
            )
        return int(killed or 0)
    finally:
        await admin.dispose()


def test_role_keys_are_stable_and_secrets_stay_out_of_names() -> None:
    # Stable across processes and Python versions (hash() is salted per process).
    assert role_key("matrix:@bot:example.org") == role_key("matrix:@bot:example.org")
    assert role_key("a") != role_key("b")
    assert -(2**63) <= role_key("a") < 2**63
    label = secret_label("telegram", "123456:SECRET-token")
    assert label.startswith("telegram:")
    assert "SECRET" not in label
    assert "123456" not in label


async def test_sqlite_grants_every_role_at_once() -> None:
    leadership = leadership_for("sqlite:///whatever.db")
    assert isinstance(leadership, Granted)
    async with (
        asyncio.timeout(1),
        leadership.hold(ROLE) as one,
        leadership.hold(ROLE) as two,
    ):
        assert one.held
        assert two.held


async def test_one_holder_at_a_time_and_the_other_takes_over_when_it_dies(
    database_url: str,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite: one process per database, every role is granted")
    async with helpers(database_url) as (first, second), first.hold(ROLE) as winner:
        got = asyncio.Event()
        contender = asyncio.create_task(_hold_until_lost(second, got))
        await asyncio.sleep(0.5)
        assert not contender.done()  # waiting: the role is taken
        async with second.hold("matrix:@other:example.org") as unrelated:
            assert unrelated.held  # another role is independent
        assert await kill_role_holders(database_url) >= 1
        # The holder notices its connection is gone; the contender gets the role.
        async with asyncio.timeout(5):
            await winner.lost.wait()
        async with asyncio.timeout(5):
            await got.wait()
        contender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await contender


async def _hold_until_lost(leadership: Leadership, got: asyncio.Event) -> None:
    async with leadership.hold(ROLE) as lease:
        got.set()
        await lease.lost.wait()


async def test_a_released_role_is_taken_by_the_waiting_process(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite: one process per database, every role is granted")
    async with helpers(database_url) as (first, second):
        async with first.hold(ROLE):
            waiting = asyncio.create_task(_enter_and_leave(second))
            await asyncio.sleep(0.3)
            assert not waiting.done()
        async with asyncio.timeout(5):
            await waiting


async def _enter_and_leave(leadership: Leadership) -> None:
    async with leadership.hold(ROLE):
        pass


async def test_work_runs_only_while_the_role_is_held_and_resumes_after_a_loss(
    database_url: str,
) -> None:
    """run_exclusively: the work of a process that lost its role is cancelled; the process
    waits and runs it again once the role is back."""
    async with helpers(database_url) as (first, _):
        runs: list[str] = []
        cancelled = asyncio.Event()
        started = [asyncio.Event(), asyncio.Event()]

        async def work(lease: Lease) -> None:
            runs.append("started")
            started[min(len(runs), 2) - 1].set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise

        task = asyncio.create_task(run_exclusively(first, ROLE, work))
        try:
            async with asyncio.timeout(5):
                await started[0].wait()
            if database_url.startswith("postgresql"):
                assert await kill_role_holders(database_url) == 1
                async with asyncio.timeout(5):
                    await cancelled.wait()
                async with asyncio.timeout(5):
                    await started[1].wait()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_what_the_work_returns_or_raises_comes_back(database_url: str) -> None:
    async with helpers(database_url) as (first, second):

        async def answer(lease: Lease) -> int:
            assert lease.held
            return 42

        async def broken(lease: Lease) -> None:
            raise ValueError("bad token")

        assert await run_exclusively(first, ROLE, answer) == 42
        with pytest.raises(ValueError, match="bad token"):
            await run_exclusively(second, ROLE, broken)
        # Released both times: the role is free again.
        async with asyncio.timeout(5), first.hold(ROLE):
            pass
